"""Masked-LM pretraining: continued pretraining of an existing encoder on a domain corpus
(``headstart adapt``) and pretraining a small BERT from scratch (``headstart pretrain``)."""
