"""The run folder: its files, atomic writes, the report and model card, listing and tracking."""
