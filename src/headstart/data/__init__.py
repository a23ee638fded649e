"""Data: file readers, builtin datasets, labelled splits and tokenised batches."""
