"""Pure simulation: the first packets through the real classifier, the rest flow-level."""
