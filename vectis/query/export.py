"""Writing a result as an Excel workbook or a CSV file, row by row, in flat memory.

**Excel.** xlsxwriter in constant-memory mode: each row goes to a temporary file as soon as the next one starts, so a
million rows cost what one does. A "Results" sheet with a bold, frozen header row and a filter on it; each cell typed
by its column's kind (numbers are numbers, money is a number shown ``#,##0.00``, dates are dates, instants are
dates and times in UTC, yes/no are booleans), and text always as text, never a formula, however it starts. A "Query"
sheet says what was asked (:func:`vectis.query.describe.describe`), when, by whom, how many rows and how long it took.

**Never truncated silently.** A sheet holds :data:`EXCEL_ROWS` rows below its header. A result known to be larger is
refused before anything is written (:func:`check_fits`), and one that grows past the limit while it is written (rows
added between the count and the export) stops with the same :class:`TooManyRows`, never a file missing rows. A text
longer than Excel's 32,767 characters a cell is cut to fit, and the Query sheet says how many were.

**CSV.** UTF-8 with a byte-order mark (so Excel reads accents right), ISO dates, instants in UTC; text that a
spreadsheet would run as a formula (starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return) is
prefixed with a single quote (OWASP's CSV injection advice). Numbers are left alone: -5 is a number, not a formula.
"""

from __future__ import annotations

import csv
import io
import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import IO, Any, BinaryIO, Final

import xlsxwriter
from xlsxwriter.utility import xl_col_to_name
from xlsxwriter.worksheet import Worksheet

from vectis.query.allowlist import Kind
from vectis.query.run import Header

EXCEL_ROWS: Final = 1_048_575  # 1,048,576 rows a sheet, less the header (spec.MAX_LIMIT is the same: a test holds it)
EXCEL_CELL_CHARS: Final = 32_767
PROGRESS_EVERY: Final = 20_000  # rows between two progress calls
FORMULA_STARTS: Final = ("=", "+", "-", "@", "\t", "\r")
MONEY_FORMAT: Final = "#,##0.00"
DATE_FORMAT: Final = "yyyy-mm-dd"
DATETIME_FORMAT: Final = "yyyy-mm-dd hh:mm"
CONTENT_TYPES: Final = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "csv": "text/csv; charset=utf-8",
}

Progress = Callable[[int], None]
Output = BinaryIO | str | Path


class TooManyRows(Exception):
    """A result larger than an Excel sheet holds: refused, never cut."""

    def __init__(self, rows: int, *, limit: int = EXCEL_ROWS, exact: bool = True) -> None:
        self.rows, self.limit = rows, limit
        count = f"{rows:,} rows" if exact else f"more than {limit:,} rows"
        super().__init__(
            f"This result has {count}, and an Excel sheet holds {limit:,} rows below its header, so nothing was "
            "exported. Add a condition (a date range, a customer, a state) to bring it under that, or export it as "
            "CSV, which has no row limit."
        )


def check_fits(rows: int, fmt: str, *, limit: int = EXCEL_ROWS) -> None:
    """Raise :class:`TooManyRows` when ``rows`` would not fit the format (only Excel has a limit)."""
    if fmt == "xlsx" and rows > limit:
        raise TooManyRows(rows, limit=limit)


@dataclass(frozen=True)
class Details:
    """What the Query sheet says beside the question: the rows and duration are the writer's own count."""

    question: Sequence[str]  # describe(spec)
    spec_hash: str
    run_by: str  # "Ada Lovelace (ada@acme.test)"
    run_at: datetime  # when the export began, UTC


@dataclass(frozen=True)
class Written:
    rows: int
    milliseconds: int
    cut_cells: int = 0  # texts cut to Excel's 32,767 characters


def _label(header: Header) -> str:
    return f"{header.label} (UTC)" if header.kind is Kind.DATETIME else header.label


def _width(header: Header) -> float:
    least = {Kind.DATE: 11, Kind.DATETIME: 17, Kind.MONEY: 12, Kind.TEXT: 16}.get(header.kind, 8)
    return float(min(max(len(_label(header)) + 3, least), 60))


def _naive_utc(value: datetime) -> datetime:
    # Excel has no time zones: the instant as UTC wall time, which the header and the Query sheet say.
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo is not None else value


# --- the Results sheet's cells, rendered here -------------------------------------------------------------------
#
# xlsxwriter spends about 4 µs on each cell it writes (argument checks, a tuple per cell, attribute escaping when the
# row is flushed): 50,000 rows a second of five columns would be all of a core before PostgreSQL sent a byte. The
# Results sheet's rows are all alike, so each column's cell is rendered here by one small function made for its kind
# and position, and the row goes to the sheet's temporary file as xlsxwriter would have written it. Everything else
# (the workbook, styles, the header, frozen panes, the filter, the Query sheet) is xlsxwriter's own.

_EXCEL_EPOCH: Final = datetime(1899, 12, 30, tzinfo=UTC)  # serial 0, given Excel's 1900 leap year (from 1 March 1900)
_EXCEL_EPOCH_DAY: Final = _EXCEL_EPOCH.date()
_DAY: Final = timedelta(days=1)
_NEEDS_ESCAPE: Final = re.compile(r"[&<>\x00-\x08\x0b-\x1f\ufffe\uffff]|_x[0-9a-fA-F]{4}_")
_CONTROL: Final = re.compile(r"[\x00-\x08\x0b-\x1f\ufffe\uffff]")
_ESCAPED: Final = re.compile(r"(_x[0-9a-fA-F]{4}_)")


def _xml_text(value: str) -> str:
    """Text as the content of a ``<t>`` element: XML's three characters escaped, control characters (which XML 1.0
    cannot carry) as Excel's ``_xHHHH_``, and a literal ``_xHHHH_`` escaped in turn so it reads back as written."""
    if _NEEDS_ESCAPE.search(value) is None:
        return value
    value = _ESCAPED.sub(r"_x005F\1", value)
    value = _CONTROL.sub(lambda m: f"_x{ord(m.group()):04X}_", value)
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _serial(value: date) -> str:
    """A date or an instant as Excel's serial number (days since its epoch; instants in UTC)."""
    if isinstance(value, datetime):
        moment = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        return repr((moment - _EXCEL_EPOCH) / _DAY)
    return str((value - _EXCEL_EPOCH_DAY).days)


def _cell_renderer(kind: Kind, column: str, formats: dict[Kind, int], cut: list[int]) -> Callable[[str, Any], str]:
    """The function that renders one column's cell at a row (``"2"``, as Excel numbers rows) from its value."""
    if kind is Kind.NUMBER:
        return lambda row, v: f'<c r="{column}{row}"><v>{v if type(v) is not float else repr(v)}</v></c>'
    if kind is Kind.MONEY:
        money = formats[Kind.MONEY]
        return lambda row, v: f'<c r="{column}{row}" s="{money}"><v>{v}</v></c>'
    if kind in (Kind.DATE, Kind.DATETIME):
        shown = formats[kind]
        return lambda row, v: f'<c r="{column}{row}" s="{shown}"><v>{_serial(v)}</v></c>'
    if kind is Kind.BOOLEAN:
        return lambda row, v: f'<c r="{column}{row}" t="b"><v>{1 if v else 0}</v></c>'

    def text(row: str, value: Any) -> str:
        value = value if type(value) is str else str(value)
        if not value:
            return ""
        if len(value) > EXCEL_CELL_CHARS // 2 and len(value.encode("utf-16-le")) // 2 > EXCEL_CELL_CHARS:
            value = _cut(value)
            cut[0] += 1
        space = ' xml:space="preserve"' if value[0].isspace() or value[-1].isspace() else ""
        return f'<c r="{column}{row}" t="inlineStr"><is><t{space}>{_xml_text(value)}</t></is></c>'

    return text


class _StreamedSheet(Worksheet):  # type: ignore[misc]  # xlsxwriter ships no type information
    """A constant-memory worksheet that also takes whole rendered rows (:func:`_cell_renderer`)."""

    def append_row(self, row: int, cells: str, last_column: int) -> None:
        if row > self.previous_row:
            self._write_single_row(row)  # what xlsxwriter holds of an earlier row (the header) goes out first
        self._check_dimensions(row, last_column)
        self.fh.write(f'<row r="{row + 1}">{cells}</row>')


def _write_text(sheet: Any, row: int, col: int, value: str, cell_format: Any = None) -> None:
    """A string through xlsxwriter's own API. In constant-memory mode it copies a string that starts with ``<r>`` and
    ends with ``</r>`` into the sheet's XML as it is, taking it for a rich string it built itself: a label shaped like
    that could add a formula or break the file. Written as a rich string of plain runs (xlsxwriter wants three at
    least), its characters are escaped and it reads the same."""
    if value.startswith("<r>") and value.endswith("</r>"):
        sheet.write_rich_string(row, col, value[:1], value[1:2], value[2:], *([cell_format] if cell_format else []))
    elif value:
        sheet.write_string(row, col, value, cell_format)


def write_xlsx(
    headers: Sequence[Header],
    rows: Iterable[Sequence[Any]],
    out: Output,
    details: Details,
    progress: Progress | None = None,
    *,
    limit: int = EXCEL_ROWS,
    progress_every: int = PROGRESS_EVERY,
) -> Written:
    """Write ``rows`` (typed by ``headers``) as a workbook to ``out`` (a binary file or a path).

    Raises :class:`TooManyRows` as soon as a row beyond ``limit`` arrives; what was written by then is no workbook
    (the caller discards ``out``)."""
    started = time.perf_counter()
    book = xlsxwriter.Workbook(out, {"constant_memory": True})
    try:
        sheet = book.add_worksheet("Results", worksheet_class=_StreamedSheet)
        query = book.add_worksheet("Query")  # written last, once the rows are counted
        bold = book.add_format({"bold": True})
        instant = book.add_format({"num_format": DATETIME_FORMAT})
        formats = {
            Kind.MONEY: book.add_format({"num_format": MONEY_FORMAT})._get_xf_index(),
            Kind.DATE: book.add_format({"num_format": DATE_FORMAT})._get_xf_index(),
            Kind.DATETIME: instant._get_xf_index(),
        }
        for n, header in enumerate(headers):
            sheet.set_column(n, n, _width(header))
            _write_text(sheet, 0, n, _label(header), bold)
        sheet.freeze_panes(1, 0)
        cut = [0]
        cells = [(n, _cell_renderer(h.kind, xl_col_to_name(n), formats, cut)) for n, h in enumerate(headers)]
        last_column = max(len(headers) - 1, 0)
        written = 0
        for row in rows:
            if written == limit:
                raise TooManyRows(limit + 1, limit=limit, exact=False)
            written += 1
            at = str(written + 1)
            sheet.append_row(
                written, "".join([render(at, row[n]) for n, render in cells if row[n] is not None]), last_column
            )
            if progress is not None and written % progress_every == 0:
                progress(written)
        sheet.autofilter(0, 0, written, last_column)
        milliseconds = round((time.perf_counter() - started) * 1000)
        _query_sheet(query, bold, instant, details, Written(written, milliseconds, cut[0]))
    except BaseException:
        _discard(book)
        raise
    book.close()
    return Written(written, milliseconds, cut[0])


def _cut(value: str) -> str:
    """The longest start of ``value`` that fits a cell (Excel counts UTF-16 units), with an ellipsis."""
    kept = value[: EXCEL_CELL_CHARS - 1]
    while len(kept.encode("utf-16-le")) // 2 > EXCEL_CELL_CHARS - 1:
        kept = kept[: -max(1, (len(kept.encode("utf-16-le")) // 2 - (EXCEL_CELL_CHARS - 1)))]
    return kept + "…"


def _discard(book: xlsxwriter.Workbook) -> None:
    # Remove the temporary files of the rows written so far without assembling a workbook out of them.
    for sheet in book.worksheets():
        handle = getattr(sheet, "row_data_fh", None)
        if handle is not None and not handle.closed:
            handle.close()
        filename = getattr(sheet, "row_data_filename", None)
        if filename:
            Path(filename).unlink(missing_ok=True)
    book.fileclosed = True  # so its finaliser does not try to close (and write) it


def _query_sheet(sheet: Any, bold: Any, instant: Any, details: Details, written: Written) -> None:
    sheet.set_column(0, 0, 16)
    sheet.set_column(1, 1, 100)
    row = 0
    sheet.write_string(row, 0, "Question", bold)
    for line in details.question or ["(no description)"]:
        _write_text(sheet, row, 1, line)
        row += 1
    row += 1
    facts: list[tuple[str, Callable[[int], Any]]] = [
        ("Run at (UTC)", lambda r: sheet.write_datetime(r, 1, _naive_utc(details.run_at), instant)),
        ("Rows", lambda r: sheet.write_number(r, 1, written.rows)),
        ("Duration", lambda r: sheet.write_string(r, 1, _duration(written.milliseconds))),
        ("Run by", lambda r: _write_text(sheet, r, 1, details.run_by)),
        ("Query hash", lambda r: sheet.write_string(r, 1, details.spec_hash)),
    ]
    for label, write in facts:
        sheet.write_string(row, 0, label, bold)
        write(row)
        row += 1
    row += 1
    sheet.write_string(row, 1, "Dates and times are in UTC.")
    if written.cut_cells:
        sheet.write_string(
            row + 1,
            1,
            f"{written.cut_cells:,} cells held more than Excel's {EXCEL_CELL_CHARS:,} characters and were cut to fit "
            "(ending with …); the CSV export keeps them whole.",
        )


def _duration(milliseconds: int) -> str:
    return f"{milliseconds:,} ms" if milliseconds < 1000 else f"{milliseconds / 1000:,.1f} s"


# --- CSV ----------------------------------------------------------------------------------------------------------


def _csv_text(value: Any) -> str:
    text = value if isinstance(value, str) else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def _csv_instant(value: Any) -> str:
    # 2026-12-07 10:15:00: what spreadsheets and scripts parse, in UTC (the header says so).
    return _naive_utc(value).isoformat(sep=" ", timespec="seconds") if isinstance(value, datetime) else str(value)


def _csv_day(value: Any) -> str:
    return value.isoformat() if isinstance(value, date) else str(value)


def _csv_boolean(value: Any) -> str:
    return "true" if value else "false"


_CSV_CELLS: Final[dict[Kind, Callable[[Any], str]]] = {
    Kind.TEXT: _csv_text,
    Kind.ENUM: _csv_text,
    Kind.NUMBER: str,
    Kind.MONEY: str,  # as stored: 3200.00, or a unit price of 0.0125 whole
    Kind.DATE: _csv_day,
    Kind.DATETIME: _csv_instant,
    Kind.BOOLEAN: _csv_boolean,
}


def write_csv(
    headers: Sequence[Header],
    rows: Iterable[Sequence[Any]],
    out: Output,
    progress: Progress | None = None,
    *,
    progress_every: int = PROGRESS_EVERY,
) -> Written:
    """Write ``rows`` as CSV to ``out`` (a binary file or a path). No row limit."""
    started = time.perf_counter()
    cells = [_CSV_CELLS[h.kind] for h in headers]
    if isinstance(out, str | Path):
        with open(out, "w", encoding="utf-8-sig", newline="") as handle:
            written = _csv_rows(handle, headers, cells, rows, progress=progress, progress_every=progress_every)
    else:
        handle = io.TextIOWrapper(out, encoding="utf-8-sig", newline="")
        try:
            written = _csv_rows(handle, headers, cells, rows, progress=progress, progress_every=progress_every)
        finally:
            handle.flush()
            handle.detach()  # the caller's file stays open
    return Written(written, round((time.perf_counter() - started) * 1000))


def _csv_rows(
    handle: IO[str],
    headers: Sequence[Header],
    cells: list[Callable[[Any], str]],
    rows: Iterable[Sequence[Any]],
    *,
    progress: Progress | None,
    progress_every: int,
) -> int:
    writer = csv.writer(handle)
    writer.writerow([_csv_text(_label(h)) for h in headers])
    typed = list(enumerate(cells))
    written = 0
    for row in rows:
        writer.writerow(["" if row[n] is None else cell(row[n]) for n, cell in typed])
        written += 1
        if progress is not None and written % progress_every == 0:
            progress(written)
    return written
