"""Invoices as PDF with WeasyPrint, one at a time or many in a process pool.

WeasyPrint reads only what :class:`TemplatesFetcher` serves: files under the templates
folder. Anything else (``http://``, ``file:///etc/...``, ``data:``, a ``..`` or a
symlink out of the folder) stops the render with a :class:`RenderError`: an invoice
that silently lost its stylesheet or logo, or one that leaked a local file, is worse
than no invoice.

Parsing the stylesheet and loading fonts cost more than laying out a one-page invoice,
so both are done once per process (and once per worker of :func:`render_pdfs`). The
PDF carries no creation date or random identifier, so rendering the same document
twice gives the same bytes. (That needs WeasyPrint to subset fonts with HarfBuzz,
``libharfbuzz-subset0``; its fontTools fallback stamps each font with the time of
rendering unless ``SOURCE_DATE_EPOCH`` is set, and costs about 0.1 s more per invoice.)
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import gc
import mimetypes
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from urllib.request import url2pathname

import weasyprint  # type: ignore[import-untyped]
from weasyprint.text.fonts import FontConfiguration  # type: ignore[import-untyped]
from weasyprint.urls import (  # type: ignore[import-untyped]
    FatalURLFetchingError,
    URLFetcher,
    URLFetcherResponse,
)

from cdr_rating.billing.document import InvoiceDocument
from cdr_rating.errors import RenderError
from cdr_rating.faults import checkpoint
from cdr_rating.render.html import STYLESHEET, describe, render_template
from cdr_rating.store import sync_directories, write_bytes

Job = tuple[InvoiceDocument, Path]

# prctl(2): the signal a process receives when its parent dies.
PR_SET_PDEATHSIG = 1
PARENT_POLL_S = 0.5
MAX_CHUNKSIZE = 32  # invoices per task: enough to hide the pickling, small enough to balance
FAILURES_SHOWN = 5


class RefusedURLError(ValueError):
    """A URL that is not a file under the templates folder."""


class TemplatesFetcher(URLFetcher):  # type: ignore[misc]
    """A WeasyPrint URL fetcher that serves files under one folder and refuses the rest.

    It never opens a connection: ``fetch`` is replaced whole, so none of urllib's
    handlers run. ``fail_on_errors`` makes WeasyPrint stop on a refusal instead of
    logging a warning and rendering without the resource.
    """

    def __init__(self, root: Path) -> None:
        super().__init__(fail_on_errors=True, allowed_protocols=("file",))
        self.root = root.resolve()

    def fetch(self, url: str, headers: Any = None) -> URLFetcherResponse:  # noqa: ARG002
        """Serve ``url`` from the folder; WeasyPrint's request ``headers`` mean nothing here."""
        path = self.local_path(url)
        content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        if content_type.startswith("text/"):
            content_type += "; charset=utf-8"
        return URLFetcherResponse(url, path.read_bytes(), {"Content-Type": content_type})

    def local_path(self, url: str) -> Path:
        """The file ``url`` names, symlinks and ``..`` resolved, if it is in the folder."""
        parts = urlsplit(url)
        if parts.scheme.lower() != "file" or parts.netloc not in ("", "localhost"):
            raise RefusedURLError(f"refused {url}: only files under {self.root} are served")
        path = Path(url2pathname(parts.path)).resolve()
        if not path.is_relative_to(self.root):
            raise RefusedURLError(f"refused {url}: {path} is not under {self.root}")
        if not path.is_file():
            raise RefusedURLError(f"refused {url}: no such file under {self.root}")
        return path


@dataclass(frozen=True)
class _Renderer:
    """What every render of one process shares: the fetcher, the fonts, the parsed CSS."""

    root: Path
    fetcher: TemplatesFetcher
    fonts: FontConfiguration
    stylesheet: weasyprint.CSS

    @property
    def base_url(self) -> str:
        return self.root.as_uri() + "/"


@functools.cache
def _renderer(root: Path) -> _Renderer:
    fetcher = TemplatesFetcher(root)
    fonts = FontConfiguration()
    try:
        stylesheet = weasyprint.CSS(
            url=(root / STYLESHEET).as_uri(), url_fetcher=fetcher, font_config=fonts
        )
    except FatalURLFetchingError as error:
        raise RenderError(f"{root / STYLESHEET}: {error.__cause__}") from error
    return _Renderer(root, fetcher, fonts, stylesheet)


def render_pdf(document: InvoiceDocument, templates_dir: Path) -> bytes:
    """The invoice as PDF bytes."""
    html = render_template(document, templates_dir, embed_stylesheet=False)
    try:
        return pdf_from_html(html, templates_dir)
    except RenderError as error:
        raise RenderError(f"{describe(document)}: {error}") from error


def pdf_from_html(html: str, templates_dir: Path) -> bytes:
    """WeasyPrint's half of :func:`render_pdf`: HTML (without its stylesheet) to PDF."""
    renderer = _renderer(templates_dir.resolve())
    page = weasyprint.HTML(string=html, base_url=renderer.base_url, url_fetcher=renderer.fetcher)
    try:
        with _collector_paused():
            pdf: bytes = page.write_pdf(
                stylesheets=[renderer.stylesheet], font_config=renderer.fonts
            )
    except FatalURLFetchingError as error:
        raise RenderError(str(error.__cause__)) from error
    return pdf


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """No cyclic garbage collection during a render; it resumes afterwards.

    WeasyPrint allocates hundreds of thousands of short-lived objects per invoice, and
    the collector's passes over them (and over every long-lived object) cost about
    15 % of the render. Pool workers collect once per invoice instead (_render_in_worker).
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def write_pdf(
    document: InvoiceDocument, path: Path, templates_dir: Path, *, sync_directory: bool = True
) -> None:
    """Render the invoice to ``path`` atomically: a reader never sees half a PDF.

    ``sync_directory=False`` leaves flushing the directory to the caller, who does it
    once for many files (see :func:`cdr_rating.store.sync_directories`).
    """
    pdf = render_pdf(document, templates_dir)
    try:
        write_bytes(path, pdf, sync_directory=sync_directory)
    except OSError as error:
        raise RenderError(f"{describe(document)}: cannot write {path}: {error}") from error


def _start_worker(root: Path, parent: int) -> None:
    """Pool initializer: the worker dies with its parent; template, stylesheet and fonts
    are loaded before the first job.

    They live as long as the worker, so they are frozen out of garbage collection, and
    automatic collection is off: :func:`_render_in_worker` collects after each invoice,
    when its garbage is all there is to scan.
    """
    _exit_with_parent(parent)
    _renderer(root)
    gc.freeze()
    gc.disable()


def _exit_with_parent(parent: int) -> None:
    """Make this worker end when ``parent`` (the process that started the pool) dies.

    A parent killed mid-render (SIGKILL, the OOM killer) cannot shut its pool down, and
    orphaned workers would go on writing invoice files nobody will record, then wait
    for work forever. On Linux the kernel sends the worker SIGKILL when its parent
    dies (``PR_SET_PDEATHSIG``); everywhere, a thread checks the parent's pid twice a
    second, which also covers a parent that died before the request took effect.
    """
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:
        os._exit(1)
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()


def _watch_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(PARENT_POLL_S)
    os._exit(1)  # no cleanup: the parent that would record our work is gone


def _render_job(job: Job, root: Path) -> str | None:
    """Render one job; a failure comes back as a message naming the invoice and path.

    Returned rather than raised so that one bad invoice does not stop a batch of
    thousands, and so the caller can name every failure at once.
    """
    document, path = job
    name = describe(document)
    checkpoint("pdf-rendering")
    try:
        write_pdf(document, path, root, sync_directory=False)
    except RenderError as error:
        return f"{name} -> {path}: {str(error).removeprefix(f'{name}: ')}"
    except Exception as error:  # a batch boundary: every failure is reported below
        return f"{name} -> {path}: {type(error).__name__}: {error}"
    return None


def _render_in_worker(job: Job, root: Path) -> str | None:
    failure = _render_job(job, root)
    gc.collect()
    return failure


def _chunksize(jobs: int, workers: int) -> int:
    """Up to MAX_CHUNKSIZE jobs per task, and at least four tasks per worker to balance."""
    return max(1, min(MAX_CHUNKSIZE, -(-jobs // (workers * 4))))


def _render_in_pool(jobs: Sequence[Job], root: Path, workers: int) -> list[str | None]:
    # spawn, never fork: Polars (imported by the caller) runs threads, and a forked
    # child would inherit their locks in whatever state they were in.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(
        workers, mp_context=context, initializer=_start_worker, initargs=(root, os.getpid())
    ) as pool:
        render = functools.partial(_render_in_worker, root=root)
        return list(pool.map(render, jobs, chunksize=_chunksize(len(jobs), workers)))


def render_pdfs(
    jobs: Sequence[tuple[InvoiceDocument, Path]], templates_dir: Path, workers: int | None = None
) -> None:
    """Render many invoices to their paths, on ``workers`` processes (default: every core).

    Every job is attempted; failures are raised together at the end as one
    :class:`RenderError` naming each failed invoice and its path.
    """
    root = templates_dir.resolve()
    workers = min(workers or os.cpu_count() or 1, len(jobs))
    if len(jobs) == 1:
        write_pdf(*jobs[0], root)
        return
    if workers <= 1:
        results = [_render_job(job, root) for job in jobs]
    else:
        results = _render_in_pool(jobs, root, workers)
    sync_directories(path for _, path in jobs if path.parent.is_dir())
    failures = [failure for failure in results if failure is not None]
    if failures:
        shown = "; ".join(failures[:FAILURES_SHOWN])
        hidden = len(failures) - FAILURES_SHOWN
        more = f" (and {hidden} more)" if hidden > 0 else ""
        raise RenderError(f"{len(failures)} of {len(jobs)} invoices failed: {shown}{more}")
