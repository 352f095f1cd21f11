"""The example character (drawn procedurally, so the demo needs nothing downloaded), its
variants with known layers, example motions, and the demo that builds and renders them."""
