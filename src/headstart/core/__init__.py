"""The bottom layer: process, device, precision and environment helpers that every layer may use."""
