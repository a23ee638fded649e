"""Models: finding a source encoder, discovering its layers, and the task head on top."""
