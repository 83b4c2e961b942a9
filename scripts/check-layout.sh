#!/usr/bin/env bash
# Checks the layout rules of DESIGN.md §8 and issue 9; prints each breach as `file:line: rule: what`
# and exits 1 when there is any (0 when none). Run by .ci/run before the tests; takes about a second.
#
#   bash scripts/check-layout.sh
#
# Rules (tests under Tests/ are free to name any table and to try writes the database refuses):
#   owners     every table a migration (or a Swift CREATE TABLE) makes has an owner in
#              scripts/layout-owners.txt
#   tables     SQL in a Swift file of Sources/ names a table, or calls an SQL function, that its
#              module does not own (the map: scripts/layout-owners.txt)
#   audit      a Swift file other than the queue's one audit writer (AUDIT_WRITER below) writes
#              audit_log, or that file writes it more than once
#   fixtures   UCPCommands or a production module imports (or depends on) DeviceSimulator or
#              DirectoryFixtures; only TOOLING modules and Tests/ may
#   knobs      a JobParameters type outside DevTools declares a test knob (KNOBS below)
#   job-names  a production job type name (the `jobType` strings of Sources/JobCatalog) appears in
#              a string literal of Sources/ outside Sources/JobCatalog (migrations/ may name them)
#   registry   JobRegistry can replace a definition other than by `register` (refuses a second one)
#              or the explicit `intercept`; Tests/QueueTests/JobRegistryTests checks the refusal
#   imports    a target's Swift files import a module its Package.swift entry does not declare, or
#              it declares a dependency none of its files imports (system modules: SYSTEM below)
#
# How SQL is found: every string literal of a Swift file (interpolations blanked) that holds an
# upper-case SQL keyword (SELECT, INSERT INTO, UPDATE …, DELETE FROM, FROM x, JOIN x, COPY x,
# TRUNCATE, CREATE, VACUUM, …) or starts with a lower-case one is read as SQL, `--` comments and
# '…' constants skipped. A table is named where it follows FROM, JOIN, INTO, UPDATE, TABLE, TRUNCATE,
# COPY, USING, ONLY, VACUUM, ANALYZE or a comma of such a list, or where it qualifies a column
# (`jobs.id`); a function where its name is followed by `(`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

command -v python3 >/dev/null || { echo "check-layout: python3 is required" >&2; exit 2; }
# The manifest as SwiftPM reads it (no build, no network; well under a second). A scratch folder of
# its own, so a build or test run holding the lock of .build does not make it wait.
scratch=$(mktemp -d /tmp/check-layout.XXXXXX)
manifest=$(swift package --scratch-path "$scratch" dump-package 2>/dev/null) || {
    rm -rf "$scratch"
    echo "check-layout: swift package dump-package failed" >&2
    exit 2
}
rm -rf "$scratch"

MANIFEST_JSON=$manifest exec python3 - "$@" <<'PYTHON'
import json, os, re, sys
from pathlib import Path

OWNERS_FILE = "scripts/layout-owners.txt"
# The one Swift file whose SQL writes audit_log (QueueSQL.auditAppend, run by QueueStore.InTransaction).
AUDIT_WRITER = "Sources/Queue/QueueStatements.swift"
# Modules that may import the simulators and fixtures: tooling, the simulators themselves, the main.
TOOLING = {"DevTools", "DeviceSimulator", "DirectoryFixtures", "ucp"}
FIXTURES = {"DeviceSimulator", "DirectoryFixtures"}
# Modules of the toolchain and the OS, never declared in Package.swift.
SYSTEM = {"Swift", "Foundation", "FoundationEssentials", "FoundationNetworking", "FoundationXML", "Dispatch",
          "Glibc", "Musl", "Darwin", "Android", "WinSDK", "XCTest", "Testing", "Synchronization", "Observation",
          "RegexBuilder", "Distributed", "_Concurrency", "_StringProcessing", "os", "CoreFoundation"}
# Field names that are test knobs, compared lower-case without '_' (stand-in durations, hangs,
# failures on demand, fakes). A production payload needing such a word picks another name.
KNOBS = {"seconds", "sleep", "sleepseconds", "delay", "delayseconds", "hang", "hangs", "hangafter", "fail",
         "fails", "failwith", "failure", "crash", "standin", "standins", "stub", "fake", "simulate", "simulated"}
KNOB_PREFIXES = ("standin", "fake", "simulat", "stub")

breaches = []
def breach(path, line, rule, what):
    breaches.append((str(path), line, rule, what))

# ---------------------------------------------------------------------------------------------
# Swift source: string literals (with their offsets) and code with literals and comments blanked.

def blank(text):
    return re.sub(r"[^\n]", " ", text)

class SwiftFile:
    def __init__(self, path):
        self.path = path
        self.text = path.read_text(encoding="utf-8")
        self.newlines = [i for i, c in enumerate(self.text) if c == "\n"]
        self.literals = []          # (offset, content): content keeps the source's length, interpolations blanked
        self.code = self._scan()    # the source with comments and literal contents blanked

    def line(self, offset):
        lo, hi = 0, len(self.newlines)
        while lo < hi:
            mid = (lo + hi) // 2
            if self.newlines[mid] < offset: lo = mid + 1
            else: hi = mid
        return lo + 1

    def _scan(self):
        text, out, i, n = self.text, [], 0, len(self.text)
        def string_at(i):
            """A literal starting at i ('#'* then '"' or '\"\"\"'); returns (end, pieces of code to keep)."""
            m = re.match(r'(#*)("""|")', text[i:])
            hashes, quote = m.group(1), m.group(2)
            close = quote + hashes
            escape = "\\" + hashes
            j = i + len(m.group(0))
            start = j
            content = []
            while j < n:
                if text.startswith(close, j):
                    break
                if quote == '"' and text[j] == "\n":
                    break
                if text.startswith(escape, j):
                    k = j + len(escape)
                    if k < n and text[k] == "(":
                        # An interpolation: code, which may hold literals of its own.
                        depth, k2 = 0, k
                        while k2 < n:
                            c = text[k2]
                            if c == '"' or (c == "#" and re.match(r'#+"', text[k2:])):
                                k2 = string_at(k2)
                                continue
                            if c == "(": depth += 1
                            elif c == ")":
                                depth -= 1
                                if depth == 0: break
                            k2 += 1
                        content.append(blank(text[j:k2 + 1]))
                        j = k2 + 1
                        continue
                    content.append(text[j:k + 1])
                    j = k + 1
                    continue
                content.append(text[j])
                j += 1
            self.literals.append((start, "".join(content)))
            return j + len(close) if j < n else j
        while i < n:
            c = text[i]
            if text.startswith("//", i):
                j = text.find("\n", i)
                j = n if j < 0 else j
                out.append(blank(text[i:j])); i = j; continue
            if text.startswith("/*", i):
                depth, j = 0, i
                while j < n:
                    if text.startswith("/*", j): depth += 1; j += 2; continue
                    if text.startswith("*/", j):
                        depth -= 1; j += 2
                        if depth == 0: break
                        continue
                    j += 1
                out.append(blank(text[i:j])); i = j; continue
            if c == '"' or (c == "#" and re.match(r'#+"', text[i:])):
                j = string_at(i)
                out.append(blank(text[i:j])); i = j; continue
            out.append(c); i += 1
        return "".join(out)

def module_of(path):
    parts = path.parts
    return parts[1] if parts[0] == "Sources" else None

sources = sorted(Path("Sources").rglob("*.swift"))
tests = sorted(Path("Tests").rglob("*.swift"))
files = {p: SwiftFile(p) for p in sources + tests}

# ---------------------------------------------------------------------------------------------
# The ownership map, and every table that has no owner.

owner = {}
for number, raw in enumerate(Path(OWNERS_FILE).read_text().splitlines(), 1):
    line = raw.split("#", 1)[0].strip()
    if not line: continue
    module, _, names = line.partition(":")
    for name in names.split():
        if name in owner and owner[name] != module.strip():
            breach(OWNERS_FILE, number, "owners", f"{name} is given to both {owner[name]} and {module.strip()}")
        owner[name] = module.strip()

CREATE = re.compile(r"\bCREATE\s+(?:OR\s+REPLACE\s+)?(?:(?:TEMP|TEMPORARY|UNLOGGED)\s+)?(TABLE|FUNCTION)\s+"
                    r"(?:IF\s+NOT\s+EXISTS\s+)?(?:public\.)?(\w+)", re.I)
for path in sorted(Path("migrations").glob("*.sql")):
    text = path.read_text(encoding="utf-8")
    for m in CREATE.finditer(text):
        if m.group(2) not in owner:
            breach(path, text.count("\n", 0, m.start()) + 1, "owners",
                   f"{m.group(1).lower()} {m.group(2)} has no owner in {OWNERS_FILE}")

# ---------------------------------------------------------------------------------------------
# SQL in Swift literals: rules tables and audit.

SQL_UPPER = re.compile(r"\b(SELECT|INSERT\s+INTO|UPDATE\s+\w+|DELETE\s+FROM|COPY\s+\w+|TRUNCATE|FROM\s+\w+|JOIN\s+\w+|"
                       r"CREATE\s+\w+|ALTER\s+\w+|DROP\s+\w+|VACUUM|ANALYZE|LOCK\s+TABLE)\b")
SQL_LOWER = re.compile(r"^\s*(select|insert|update|delete|with|copy|truncate|create|alter|drop|vacuum|analyze)\b")
TOKEN = re.compile(r"--[^\n]*|'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|\$\d+|::\w+|[A-Za-z_][A-Za-z0-9_]*|\S")
REF_KEYWORDS = {"FROM", "JOIN", "INTO", "UPDATE", "TABLE", "TRUNCATE", "COPY", "USING", "ONLY", "VACUUM", "ANALYZE"}
LIST_KEYWORDS = {"FROM", "TRUNCATE", "USING", "VACUUM", "ANALYZE"}
SKIP_AFTER_KEYWORD = {"ONLY", "IF", "NOT", "EXISTS", "LATERAL", "TEMP", "TEMPORARY", "UNLOGGED"}
WRITE_KEYWORDS = {"INTO", "UPDATE", "TRUNCATE", "COPY", "DELETE"}
CLAUSE_END = {"WHERE", "ON", "SET", "GROUP", "ORDER", "LIMIT", "RETURNING", "JOIN", "LEFT", "RIGHT", "INNER", "FULL",
              "CROSS", "UNION", "EXCEPT", "INTERSECT", "HAVING", "WINDOW", "FOR", "VALUES", "SELECT", "DO", "FETCH",
              "OFFSET", "WITH", "USING", "FROM", "NATURAL", "RESTART", "CONTINUE", "CASCADE", "RESTRICT"}

def sql_references(content):
    """(offset, name, how) for every table or function the SQL text names; how is 'write' or 'read'."""
    tokens = [(m.start(), m.group(0)) for m in TOKEN.finditer(content)
              if not m.group(0).startswith(("--", "'", "$", "::"))]
    refs = []
    def word(k): return tokens[k][1] if 0 <= k < len(tokens) else ""
    def skip_parens(k):
        depth = 0
        while k < len(tokens):
            if tokens[k][1] == "(": depth += 1
            elif tokens[k][1] == ")":
                depth -= 1
                if depth == 0: return k + 1
            k += 1
        return k
    for k, (offset, tok) in enumerate(tokens):
        up = tok.upper()
        name = tok.lower()
        if name in owner and word(k - 1) != "." and word(k - 1).upper() != "AS":
            if word(k + 1) == "(" or (word(k + 1) == "." and re.match(r"\w", word(k + 2) or "")):
                refs.append((offset, name, "read"))
        if up not in REF_KEYWORDS: continue
        write = up in WRITE_KEYWORDS or (up == "FROM" and word(k - 1).upper() == "DELETE")
        j = k + 1
        while True:
            while word(j).upper() in SKIP_AFTER_KEYWORD: j += 1
            if word(j) == "(" and up in {"VACUUM", "ANALYZE"}:
                j = skip_parens(j)
                continue
            target = word(j).lower()
            if not re.match(r"[a-z_]", target): break
            if target == "public" and word(j + 1) == ".":
                j += 2; target = word(j).lower()
            if target in owner:
                refs.append((tokens[j][0], target, "write" if write else "read"))
            if up not in LIST_KEYWORDS: break
            # Past the item (a call's arguments, an alias), a comma continues the list.
            j += 1
            if word(j) == "(": j = skip_parens(j)
            if word(j).upper() == "AS": j += 1
            if re.match(r"[A-Za-z_]", word(j)) and word(j).upper() not in CLAUSE_END and word(j) != ",":
                j += 1
                if word(j) == "(": j = skip_parens(j)
            if word(j) != ",": break
            j += 1
    return sorted(set(refs))

audit_writes = []
sql_literals = {}   # path -> [(offset, content)]
for path in sources:
    swift = files[path]
    module = module_of(path)
    for start, content in swift.literals:
        if not (SQL_UPPER.search(content) or SQL_LOWER.search(content)): continue
        sql_literals.setdefault(path, []).append((start, content))
        for offset, name, how in sql_references(content):
            line = swift.line(start + offset)
            if owner[name] != module:
                verb = "calls" if content[offset + len(name):].lstrip().startswith("(") and name.startswith("ucp_") else "names"
                breach(path, line, "tables", f"{module} {verb} {name}, which {owner[name]} owns")
            if name == "audit_log" and how == "write":
                audit_writes.append((path, line))
        for m in CREATE.finditer(content):
            if m.group(2) not in owner:
                breach(path, swift.line(start + m.start()), "owners", f"{m.group(1).lower()} {m.group(2)} has no owner in {OWNERS_FILE}")

writer_lines = [(p, l) for p, l in audit_writes if str(p) == AUDIT_WRITER]
for path, line in audit_writes:
    if str(path) != AUDIT_WRITER:
        breach(path, line, "audit", f"writes audit_log; only {AUDIT_WRITER} (QueueSQL.auditAppend) may, through QueueStore.InTransaction.auditAppend")
for path, line in writer_lines[1:]:
    breach(path, line, "audit", f"a second statement writing audit_log (the first is at line {writer_lines[0][1]}): one Swift place writes it")

# ---------------------------------------------------------------------------------------------
# Imports and Package.swift: rules fixtures and imports.

manifest = json.loads(os.environ["MANIFEST_JSON"])
package_text = Path("Package.swift").read_text()
def package_line(target):
    m = re.search(r'\.(?:target|testTarget|executableTarget|systemLibrary)\(\s*name:\s*"%s"' % re.escape(target), package_text)
    return package_text.count("\n", 0, m.start()) + 1 if m else 1

IMPORT = re.compile(r"^[ \t]*(?:@[\w()]+[ \t]+)*(?:(?:public|package|internal|fileprivate|private)[ \t]+)?import[ \t]+"
                    r"(?:(?:typealias|struct|class|enum|protocol|let|var|func)[ \t]+)?(\w+)", re.M)
targets = {}
for target in manifest["targets"]:
    if target["type"] in ("system", "binary", "plugin", "macro"): continue
    folder = Path(target.get("path") or (("Tests/" if target["type"] == "test" else "Sources/") + target["name"]))
    declared = {}
    for dependency in target["dependencies"]:
        kind, value = next(iter(dependency.items()))
        declared[value[0]] = kind   # byName/target: the module; product: the product's module of that name
    targets[target["name"]] = (target["type"], folder, declared)

for name, (kind, folder, declared) in sorted(targets.items()):
    imported = {}
    for path in sorted(folder.rglob("*.swift")):
        swift = files.get(path) or SwiftFile(path)
        for m in IMPORT.finditer(swift.code):
            imported.setdefault(m.group(1), (path, swift.line(m.start(1))))
    tooling = name in TOOLING or kind == "test" or str(folder).startswith("Tests/")
    for module, (path, line) in sorted(imported.items()):
        if module in FIXTURES and not tooling:
            breach(path, line, "fixtures", f"{name} imports {module}; only {', '.join(sorted(TOOLING))} and Tests/ may")
        if module in SYSTEM or module == name: continue
        if module not in declared:
            breach(path, line, "imports", f"{name} imports {module}, which Package.swift does not declare for it")
    for module in sorted(declared):
        if module in FIXTURES and not tooling:
            breach("Package.swift", package_line(name), "fixtures", f"{name} depends on {module}; only {', '.join(sorted(TOOLING))} and Tests/ may")
        if module not in imported:
            breach("Package.swift", package_line(name), "imports", f"{name} declares {module}, which none of its files imports")

# ---------------------------------------------------------------------------------------------
# Job contracts: rules knobs, job-names and registry.

def body_end(code, open_brace):
    depth = 0
    for j in range(open_brace, len(code)):
        if code[j] == "{": depth += 1
        elif code[j] == "}":
            depth -= 1
            if depth == 0: return j
    return len(code)

DECL = re.compile(r"\b(struct|class|enum|protocol|extension|actor)\s+(\w+)(?:<[^{]*?>)?\s*(?::\s*([^{]*))?\{")
# Protocols that refine JobParameters, found anywhere in Sources (SyncParameters, …).
parameter_protocols = {"JobParameters"}
changed = True
while changed:
    changed = False
    for path in sources:
        for m in DECL.finditer(files[path].code):
            if m.group(1) == "protocol" and m.group(3) and m.group(2) not in parameter_protocols:
                if parameter_protocols & set(re.findall(r"\w+", m.group(3))):
                    parameter_protocols.add(m.group(2)); changed = True

MEMBER = re.compile(r"^[ \t]*(?:@\w+(?:\([^)]*\))?[ \t]+)*((?:(?:public|package|internal|fileprivate|private|open|"
                    r"static|class|final|lazy|weak|unowned|nonisolated|override|mutating)(?:\([^)]*\))?[ \t]+)*)"
                    r"(?:var|let)[ \t]+(\w+)", re.M)
for path in sources:
    if module_of(path) == "DevTools" or module_of(path) in TOOLING: continue
    swift = files[path]
    code = swift.code
    for m in DECL.finditer(code):
        conformances = set(re.findall(r"\w+", m.group(3) or ""))
        if not conformances & parameter_protocols: continue
        start, end = m.end() - 1, body_end(code, m.end() - 1)
        # Members at the top level of the body only.
        depth, top = 0, []
        for j in range(start, end):
            c = code[j]
            if c == "{": depth += 1
            elif c == "}": depth -= 1
            top.append(c if depth == 1 or c == "\n" else " ")
        top = "".join(top)
        fields = [(mm.group(2), start + mm.start(2)) for mm in MEMBER.finditer(top) if "static" not in mm.group(1)
                  and "class " not in mm.group(1)]
        # Coding keys: the names a payload carries.
        for ck in re.finditer(r"\benum\s+CodingKeys\b[^{]*\{", code[start:end]):
            ck_start = start + ck.end() - 1
            ck_end = body_end(code, ck_start)
            for lit_start, content in swift.literals:
                if ck_start < lit_start < ck_end: fields.append((content, lit_start))
        for field, offset in fields:
            normalized = field.lower().replace("_", "").replace("-", "")
            if normalized in KNOBS or normalized.startswith(KNOB_PREFIXES):
                breach(path, swift.line(offset), "knobs",
                       f"job parameters {m.group(2)} declare '{field}', a test knob: stand-ins are job types of their own in DevTools")

job_names = {}
for path in sorted(Path("Sources/JobCatalog").rglob("*.swift")):
    for m in re.finditer(r'static\s+(?:let|var)\s+jobType\s*(?::\s*String\s*)?=\s*"([^"\\]+)"', files[path].text):
        job_names[m.group(1)] = path
if not job_names:
    breach("Sources/JobCatalog", 1, "job-names", "no `static let jobType = \"…\"` found: the check has nothing to look for")
for path in sources:
    if path.parts[:2] == ("Sources", "JobCatalog"): continue
    swift = files[path]
    for start, content in swift.literals:
        for name in job_names:
            for m in re.finditer(r"(?<![\w.])%s(?!\w|\.\w)" % re.escape(name), content):
                breach(path, swift.line(start + m.start()), "job-names",
                       f"the job type name \"{name}\" typed out; use its contract's jobType ({job_names[name].name})")

registry = Path("Sources/Queue/JobRegistry.swift")
if not registry.exists():
    breach(registry, 1, "registry", "JobRegistry.swift not found: the check cannot run")
else:
    swift = files[registry]
    code = swift.code
    decl = re.search(r"\b(?:var|let)\s+definitions\b", code)
    if not decl or not re.search(r"(private(\(set\))?|fileprivate(\(set\))?)\s+(?:var|let)\s+definitions\b",
                                 code[code.rfind("\n", 0, decl.start()) + 1:decl.end()]):
        breach(registry, swift.line(decl.start()) if decl else 1, "registry",
               "`definitions` must be private(set): only register and intercept may change it")
    functions = [(fm.group(1), fm.end() - 1, body_end(code, fm.end() - 1))
                 for fm in re.finditer(r"\bfunc\s+(\w+)[^{]*\{", code)]
    for wm in re.finditer(r"\bdefinitions\s*(?:\[[^\]]*\]\s*)?(?:=(?!=)|\.(?:updateValue|merge|removeValue|removeAll)\b)|"
                          r"\bdefinitions\s*\[[^\]]*\]\s*=(?!=)", code):
        inside = [name for name, s, e in functions if s < wm.start() < e]
        if not inside or inside[-1] not in ("register", "intercept"):
            breach(registry, swift.line(wm.start()), "registry",
                   f"definitions changed in {inside[-1] if inside else 'a stored default'}; only register (refusing a second registration) and intercept may")
    for name, s, e in functions:
        if name == "register" and not re.search(r"guard\s+definitions\[[^\]]+\]\s*==\s*nil", code[s:e]):
            breach(registry, swift.line(s), "registry", "register must refuse a type already registered (guard definitions[…] == nil … throw)")

# ---------------------------------------------------------------------------------------------

for path, line, rule, what in sorted(set(breaches), key=lambda b: (b[0], b[1], b[2], b[3])):
    print(f"{path}:{line}: {rule}: {what}")
if breaches:
    print(f"check-layout: {len(set(breaches))} breach(es)", file=sys.stderr)
    sys.exit(1)
print(f"check-layout: ok ({len(sources)} source files, {len(tests)} test files, {len(owner)} owned names, "
      f"{len(targets)} targets)")
PYTHON
