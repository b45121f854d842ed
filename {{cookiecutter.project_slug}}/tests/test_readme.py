"""The README's security table names tests that exist, so it cannot silently go stale."""

import re

from tests.live_server import PROJECT_DIR

TESTS_DIR = PROJECT_DIR / "tests"
# `test_file.py`, `test_file.py::test_name`, or `::test_name` continuing the previous file.
REFERENCE = re.compile(r"`(test_\w+\.py)?(?:::(test_\w+))?(?:\[[\w-]+\])?`")


def security_table_references():
    readme = (PROJECT_DIR / "README.md").read_text()
    table = readme.split("## Security", 1)[1].split("\n## ", 1)[0]
    references = []
    for row in table.splitlines():
        current_file = None
        for match in REFERENCE.finditer(row):
            test_file, test_name = match.groups()
            current_file = test_file or current_file
            if current_file:
                references.append((current_file, test_name))
    return references


def test_security_table_names_only_existing_tests():
    references = security_table_references()
    assert len(references) > 20
    missing = [
        f"{test_file}::{test_name}" if test_name else test_file
        for test_file, test_name in references
        if not (TESTS_DIR / test_file).is_file()
        or (
            test_name
            and not re.search(
                rf"^(async )?def {test_name}\(", (TESTS_DIR / test_file).read_text(), re.M
            )
        )
    ]
    assert missing == []
