"""Looking inside a network: feature maps, filters, activation statistics, saliency and Grad-CAM.

Qt-free and built on forward hooks and autograd (no hand-rolled gradients):

- :mod:`.subject`: a trained run or an untrained design, ready to look into;
- :mod:`.images`: the image to look at (a file resized to the design's input, or a dataset image);
- :mod:`.activations`: every convolution, pooling and activation layer's output, top-5, statistics;
- :mod:`.attribution`: saliency, Grad-CAM and a unit's effective receptive field;
- :mod:`.render`: pictures of all of these as PIL images, saved as PNG;
- :mod:`.report`: one inspection of one image, written as PNG files and a JSON file
  (``convstudio inspect``).
"""
