"""Domain-shift diagnosis: how far a corpus is from what a source model was pretrained on."""
