"""Training in the app: settings, dataset choice, run controls, results, runs and scale-out."""
