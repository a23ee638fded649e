"""``headstart models``: choose a source model: catalogue, local cache, hub search."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from headstart.cli.common import err_console, out_console, user_errors
from headstart.errors import HeadstartError


def cached_models() -> list[tuple[str, float, str]]:
    """(repo id, size in MB, last modified) of models in the local Hugging Face cache."""
    from huggingface_hub import scan_cache_dir

    try:
        info = scan_cache_dir()
    except Exception:  # no cache folder yet, or an unreadable one: nothing cached
        return []
    rows = []
    for repo in sorted(info.repos, key=lambda r: r.repo_id):
        if repo.repo_type == "model":
            rows.append((repo.repo_id, repo.size_on_disk / 1e6, repo.last_modified_str))
    return rows


def search_hub(term: str, limit: int) -> list[tuple[str, int, str]]:
    from huggingface_hub import HfApi
    from huggingface_hub.constants import HF_HUB_OFFLINE

    if HF_HUB_OFFLINE:
        raise HeadstartError("hub search is off: HF_HUB_OFFLINE is set; unset it to search the hub")
    try:
        found = HfApi().list_models(search=term, filter="fill-mask", sort="downloads", limit=limit)
        return [(m.id, int(m.downloads or 0), ", ".join((m.tags or [])[:4])) for m in found]
    except Exception as exc:  # network errors come in many types
        raise HeadstartError(
            f"cannot search the Hugging Face hub (offline or unreachable: {type(exc).__name__}); "
            f"the catalogue and cached models above work offline"
        ) from None


@user_errors
def models(
    search: Annotated[
        str | None, typer.Option("--search", help="search the hub for TERM (needs internet)")
    ] = None,
    domain: Annotated[
        str | None, typer.Option(help="only catalogue entries of this domain, e.g. finance")
    ] = None,
    limit: Annotated[int, typer.Option(help="hub search results to show")] = 20,
) -> None:
    """Help choose a source model: curated catalogue, local cache and hub search."""
    from headstart.models.catalogue import CATALOGUE, domains

    entries = [e for e in CATALOGUE if domain is None or e.domain == domain]
    if domain is not None and not entries:
        raise HeadstartError(
            f"no catalogue entry for domain '{domain}'; domains: {', '.join(domains())}"
        )
    table = Table(title="Catalogue: well-known encoders (pass the id to --model)")
    for column in ("model", "params", "layers", "languages", "domain", "note"):
        table.add_column(column, justify="right" if column in ("params", "layers") else "left")
    for e in entries:
        table.add_row(e.model_id, f"{e.params_m:g}M", str(e.layers), e.languages, e.domain, e.note)
    out_console.print(table)

    cached = cached_models()
    cache_table = Table(title="In your local Hugging Face cache (usable offline)")
    for column in ("model", "size", "last modified"):
        cache_table.add_column(column)
    for repo_id, mb, modified in cached:
        cache_table.add_row(repo_id, f"{mb:.0f} MB", modified)
    if cached:
        out_console.print(cache_table)
    else:
        out_console.print("No models in the local Hugging Face cache yet.")

    if search is not None:
        results = search_hub(search, limit)
        hub_table = Table(title=f"Hub search: {search}")
        for column in ("model", "downloads", "tags"):
            hub_table.add_column(column)
        for model_id, downloads, tags in results:
            hub_table.add_row(model_id, f"{downloads:,}", tags)
        out_console.print(hub_table)
        if not results:
            err_console.print(f"no fill-mask models on the hub match '{search}'")
