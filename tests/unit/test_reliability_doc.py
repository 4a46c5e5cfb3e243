"""docs/reliability.md and the tests that cite it stay in step (issue 14, point 5).

A test cites "reliability case N" or "promise N" of docs/reliability.md; the page
defines each case (a ``### Case N`` heading) and promise (``**Promise N.**``) and
lists, under each case, the tests that check it as `tests/...py::test_name`. The
checks are pure functions of the page's text and the tests' sources, so that the
last test can show that each of them fails when it should.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PAGE = "docs/reliability.md"

CASE_HEADING = re.compile(r"^### Case (\d+)\b", re.M)
SECTION_END = re.compile(r"^##", re.M)
PROMISE = re.compile(r"^\*\*Promise (\d+)\.\*\*", re.M)
LISTED = re.compile(r"`(tests/[\w/.-]+\.py)::(\w+)(?:\[[^\]`]*\])?`")
NOT_COVERED = "**not covered yet.**"
SUMMARY = re.compile(r"^Not covered yet: cases? ([\d, ]+)\.", re.M)
CITED_CASES = re.compile(
    r"\breliability\s+cases?\s+(\d+(?:\s*(?:,|-|\band\b)\s*\d+)*)", re.I
)  # "reliability case 7", "reliability cases 2-5, 9 and 10"
CITED_PROMISES = re.compile(r"\bpromises?\s+(\d+)\b", re.I)
NUMBERED_NAME = re.compile(r"^test_(\d+)_")  # test_32_... checks case 32
OUTSIDE = re.compile(r"\b[Cc]atalogue\b|RELIABILITY\.md")  # the old references to no file here


@dataclass
class Page:
    cases: list[int] = field(default_factory=list)  # in page order, repeats kept
    listed: dict[int, set[str]] = field(default_factory=dict)  # case -> "file::test"
    uncovered: set[int] = field(default_factory=set)
    summary: set[int] | None = None
    promises: set[int] = field(default_factory=set)
    refs: set[str] = field(default_factory=set)  # every `file::test` on the page


def read_page(text: str) -> Page:
    page = Page(promises={int(n) for n in PROMISE.findall(text)})
    page.refs = {f"{f}::{t}" for f, t in LISTED.findall(text)}
    if found := SUMMARY.search(text):
        page.summary = {int(n) for n in re.findall(r"\d+", found.group(1))}
    for heading in CASE_HEADING.finditer(text):
        number = int(heading.group(1))
        end = SECTION_END.search(text, heading.end())
        body = text[heading.end() : end.start() if end else len(text)]
        page.cases.append(number)
        page.listed[number] = {f"{f}::{t}" for f, t in LISTED.findall(body)}
        if NOT_COVERED in body:
            page.uncovered.add(number)
    return page


def numbers(cited: str) -> set[int]:
    """ "2-5, 9 and 10" -> {2, 3, 4, 5, 9, 10}."""
    found: set[int] = set()
    for part in re.split(r"\s*(?:,|\band\b)\s*", cited.strip()):
        low, _, high = part.partition("-")
        found.update(range(int(low), int(high or low) + 1))
    return found


def cited_cases(text: str) -> set[int]:
    return set().union(*(numbers(m) for m in CITED_CASES.findall(text)))


def cited_promises(text: str) -> set[int]:
    return {int(n) for n in CITED_PROMISES.findall(text)}


def functions_of(source: str) -> dict[str, str]:
    """Every test function of a module (methods too): name -> its docstring."""
    return {
        node.name: ast.get_docstring(node) or ""
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        if node.name.startswith("test_")
    }


def undefined_citations(page: Page, sources: dict[str, str]) -> list[str]:
    found = []
    for path, source in sorted(sources.items()):
        for n in sorted(cited_cases(source) - set(page.cases)):
            found.append(f"{path} cites reliability case {n}, which {PAGE} does not define")
        for n in sorted(cited_promises(source) - page.promises):
            found.append(f"{path} cites promise {n}, which {PAGE} does not define")
    return found


def missing_tests(page: Page, sources: dict[str, str]) -> list[str]:
    found = []
    for ref in sorted(page.refs):
        path, name = ref.split("::")
        if path not in sources:
            found.append(f"{PAGE} lists {ref}: no file {path}")
        elif name not in functions_of(sources[path]):
            found.append(f"{PAGE} lists {ref}: {path} has no test {name}")
    return found


def unlisted_citers(page: Page, sources: dict[str, str]) -> list[str]:
    """A test whose docstring cites case N (or, in a file citing cases, whose name
    starts with test_N_) must be listed under case N."""
    found = []
    for path, source in sorted(sources.items()):
        file_cites = bool(cited_cases(source))
        for name, doc in functions_of(source).items():
            mine = cited_cases(doc)
            if file_cites and (numbered := NUMBERED_NAME.match(name)):
                mine.add(int(numbered.group(1)))
            for n in sorted(mine & set(page.cases)):
                if f"{path}::{name}" not in page.listed[n]:
                    found.append(f"{path}::{name} cites case {n} but is not listed under it")
    return found


def unnamed_page(sources: dict[str, str]) -> list[str]:
    found = []
    for path, source in sorted(sources.items()):
        if OUTSIDE.search(source):
            found.append(f"{path} cites a catalogue outside the repository: cite {PAGE}")
        if (cited_cases(source) or cited_promises(source)) and PAGE not in source:
            found.append(f"{path} cites reliability cases without naming {PAGE}")
    return found


def page_problems(page: Page) -> list[str]:
    found = []
    if repeated := sorted({n for n in page.cases if page.cases.count(n) > 1}):
        found.append(f"cases defined twice: {repeated}")
    if gaps := sorted(set(range(1, max(page.cases, default=0) + 1)) - set(page.cases)):
        found.append(f"case numbers missing: {gaps}")
    for n in sorted(set(page.cases)):
        if not page.listed[n] and n not in page.uncovered:
            found.append(f"case {n} lists no test and does not say {NOT_COVERED}")
    if (page.summary or set()) != page.uncovered:
        found.append(f"summary says not covered {page.summary}, the cases say {page.uncovered}")
    return found


def repository() -> tuple[Page, dict[str, str]]:
    this = Path(__file__).resolve()
    sources = {
        path.relative_to(ROOT).as_posix(): path.read_text(encoding="utf-8")
        for path in sorted((ROOT / "tests").rglob("*.py"))
        # its own examples below cite on purpose; .cache holds the test virtualenvs
        if path.resolve() != this and ".cache" not in path.relative_to(ROOT).parts
    }
    return read_page((ROOT / PAGE).read_text(encoding="utf-8")), sources


def test_every_case_and_promise_a_test_cites_is_defined() -> None:
    page, sources = repository()
    assert len(page.cases) >= 48 and page.promises == set(range(1, 10))
    assert undefined_citations(page, sources) == []


def test_every_test_the_page_lists_exists() -> None:
    page, sources = repository()
    assert len(page.refs) > 50
    assert missing_tests(page, sources) == []


def test_a_test_that_cites_a_case_is_listed_under_it() -> None:
    page, sources = repository()
    assert unlisted_citers(page, sources) == []


def test_citations_name_the_page_and_nothing_outside_the_repository() -> None:
    _page, sources = repository()
    assert unnamed_page(sources) == []


def test_each_case_is_defined_once_and_tested_or_said_not_covered() -> None:
    page, _sources = repository()
    assert page_problems(page) == []


def test_the_checks_can_fail() -> None:
    doc = (
        "Not covered yet: cases 2.\n\n**Promise 1.** x\n\n"
        "### Case 1\n- Tests:\n  - `tests/unit/test_a.py::test_one`\n"
        "  - `tests/unit/test_a.py::test_gone`\n  - `tests/unit/test_nofile.py::test_x`\n"
        "### Case 3\n- Tests: none\n## Other\n"
    )
    page = read_page(doc)
    assert page.cases == [1, 3] and page.listed[3] == set() and page.uncovered == set()
    sources = {
        "tests/unit/test_a.py": (
            '"""Reliability cases 1-2, 7 and 9 of docs/reliability.md; promise 4."""\n'
            'def test_one():\n    """Reliability case 1."""\n'
            'def test_other():\n    """Reliability case 1, unlisted."""\n'
            "def test_3_numbered():\n    pass\n"
        ),
        "tests/unit/test_b.py": '"""Catalogue 3: from RELIABILITY.md; reliability case 1."""\n',
    }
    assert undefined_citations(page, sources) == [
        f"tests/unit/test_a.py cites reliability case {n}, which {PAGE} does not define"
        for n in (2, 7, 9)
    ] + [f"tests/unit/test_a.py cites promise 4, which {PAGE} does not define"]
    assert missing_tests(page, sources) == [
        f"{PAGE} lists tests/unit/test_a.py::test_gone: tests/unit/test_a.py has no test test_gone",
        f"{PAGE} lists tests/unit/test_nofile.py::test_x: no file tests/unit/test_nofile.py",
    ]
    assert unlisted_citers(page, sources) == [
        "tests/unit/test_a.py::test_other cites case 1 but is not listed under it",
        "tests/unit/test_a.py::test_3_numbered cites case 3 but is not listed under it",
    ]
    assert unnamed_page(sources) == [
        f"tests/unit/test_b.py cites a catalogue outside the repository: cite {PAGE}",
        f"tests/unit/test_b.py cites reliability cases without naming {PAGE}",
    ]
    assert page_problems(page) == [
        "case numbers missing: [2]",
        f"case 3 lists no test and does not say {NOT_COVERED}",
        "summary says not covered {2}, the cases say set()",
    ]
    assert numbers("2-5, 9 and 10") == {2, 3, 4, 5, 9, 10}
