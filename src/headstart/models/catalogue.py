"""A curated catalogue of well-known encoders, to help choose a source model."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CatalogueEntry:
    model_id: str
    params_m: float  # millions of parameters
    layers: int
    languages: str
    domain: str
    note: str


CATALOGUE: tuple[CatalogueEntry, ...] = (
    CatalogueEntry(
        "minilm", 22.7, 6, "en", "general", "packaged default (all-MiniLM-L6-v2), works offline"
    ),
    CatalogueEntry(
        "sentence-transformers/all-MiniLM-L6-v2",
        22.7,
        6,
        "en",
        "general",
        "same as minilm, from the hub",
    ),
    CatalogueEntry(
        "google/bert_uncased_L-4_H-256_A-4", 11.2, 4, "en", "general", "BERT-mini: fast baseline"
    ),
    CatalogueEntry(
        "distilbert-base-uncased", 66.4, 6, "en", "general", "distilled BERT, 60% faster than base"
    ),
    CatalogueEntry("bert-base-uncased", 110.0, 12, "en", "general", "the classic baseline"),
    CatalogueEntry(
        "roberta-base",
        125.0,
        12,
        "en",
        "general",
        "robustly trained BERT; strong on classification",
    ),
    CatalogueEntry(
        "microsoft/deberta-v3-small", 141.0, 6, "en", "general", "strong accuracy for its depth"
    ),
    CatalogueEntry(
        "microsoft/deberta-v3-base",
        184.0,
        12,
        "en",
        "general",
        "top accuracy among base-size encoders",
    ),
    CatalogueEntry(
        "google/electra-base-discriminator",
        110.0,
        12,
        "en",
        "general",
        "efficient pretraining, strong GLUE",
    ),
    CatalogueEntry(
        "answerdotai/ModernBERT-base", 149.0, 22, "en, code", "general", "long context (8k)"
    ),
    CatalogueEntry("xlm-roberta-base", 278.0, 12, "100 languages", "general", "multilingual"),
    CatalogueEntry(
        "distilbert-base-multilingual-cased",
        135.0,
        6,
        "104 languages",
        "general",
        "small multilingual",
    ),
    CatalogueEntry(
        "ProsusAI/finbert", 110.0, 12, "en", "finance", "BERT tuned on financial news sentiment"
    ),
    CatalogueEntry(
        "yiyanghkust/finbert-pretrain",
        110.0,
        12,
        "en",
        "finance",
        "BERT pretrained on financial communications",
    ),
    CatalogueEntry(
        "microsoft/BiomedNLP-BiomedBERT-base-uncased-abstract-fulltext",
        110.0,
        12,
        "en",
        "biomedical",
        "PubMed from scratch",
    ),
    CatalogueEntry(
        "dmis-lab/biobert-base-cased-v1.2", 108.0, 12, "en", "biomedical", "BERT + PubMed"
    ),
    CatalogueEntry(
        "emilyalsentzer/Bio_ClinicalBERT", 108.0, 12, "en", "clinical", "MIMIC-III clinical notes"
    ),
    CatalogueEntry(
        "nlpaueb/legal-bert-base-uncased",
        110.0,
        12,
        "en",
        "legal",
        "EU and US legislation, cases, contracts",
    ),
    CatalogueEntry(
        "allenai/scibert_scivocab_uncased",
        110.0,
        12,
        "en",
        "scientific",
        "Semantic Scholar papers, own vocabulary",
    ),
    CatalogueEntry("vinai/bertweet-base", 135.0, 12, "en", "social media", "850M English tweets"),
)


def domains() -> list[str]:
    return sorted({e.domain for e in CATALOGUE})
