"""Icons, screenshots and other files the app shows, found in any kind of install."""
