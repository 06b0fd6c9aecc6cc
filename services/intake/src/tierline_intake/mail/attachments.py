"""Files that came with a mail: names made safe, executable types refused (kept as a record, no bytes)."""

from __future__ import annotations

import mimetypes
import re
import unicodedata
from email.message import MIMEPart
from email.utils import collapse_rfc2231_value

FILENAME_MAX = 255

EXECUTABLE_EXTENSIONS = frozenset(
    {
        ".exe", ".bat", ".cmd", ".com", ".scr", ".js", ".jse", ".vbs", ".vbe", ".vb", ".wsf", ".wsh",
        ".ws", ".msi", ".msp", ".mst", ".ps1", ".psm1", ".psd1", ".jar", ".jnlp", ".dll", ".sys", ".cpl",
        ".pif", ".hta", ".lnk", ".reg", ".scf", ".msc", ".gadget", ".application", ".appx", ".msix",
        ".sh", ".bash", ".csh", ".ksh", ".command", ".apk", ".app", ".deb", ".rpm", ".run", ".elf",
        # disk images and OneNote files: containers that carry a program past the checks (and past
        # Windows' mark of the web) to a double-click
        ".iso", ".img", ".vhd", ".vhdx", ".dmg", ".one", ".onepkg",
    }
)  # fmt: skip
EXECUTABLE_TYPES = frozenset(
    {
        "application/x-msdownload",
        "application/x-msdos-program",
        "application/x-ms-dos-executable",
        "application/x-dosexec",
        "application/x-executable",
        "application/x-elf",
        "application/vnd.microsoft.portable-executable",
        "application/x-msi",
        "application/x-ms-installer",
        "application/x-ms-shortcut",
        "application/x-bat",
        "application/x-sh",
        "application/x-shellscript",
        "application/x-csh",
        "application/java-archive",
        "application/x-java-archive",
        "application/x-java-jnlp-file",
        "application/javascript",
        "application/x-javascript",
        "text/javascript",
        "application/hta",
        "application/vnd.android.package-archive",
        "application/x-debian-package",
        "application/vnd.debian.binary-package",
        "application/x-rpm",
        "application/x-redhat-package-manager",
        "application/x-mach-binary",
        "application/x-iso9660-image",
        "application/x-cd-image",
        "application/x-raw-disk-image",
        "application/x-apple-diskimage",
        "application/x-virtualbox-vhd",
        "application/x-virtualbox-vhdx",
        "application/onenote",
        "application/x-ms-application",
    }
)
# Mach-O (32- and 64-bit) and universal ("fat") binaries, in both byte orders. CAFEBABE is also a Java
# class file's magic: a program too.
_MACH_O_MAGIC = tuple(
    magic
    for word in ("feedface", "feedfacf", "cafebabe", "cafebabf")
    for magic in (bytes.fromhex(word), bytes.fromhex(word)[::-1])
)
# Path separators, characters Windows forbids in names, and everything unprintable.
_UNSAFE = re.compile(r'[/\\<>:"|?*\x00-\x1f\x7f-\x9f]')


def safe_filename(name: str | None, content_type: str) -> str:
    """The last path segment, printable and at most 255 characters; a made-up name when nothing is left."""
    name = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    # Cf: invisible format characters, e.g. U+202E that shows "invoice‮fdp.exe" as "invoiceexe.pdf"
    name = "".join(ch for ch in name if unicodedata.category(ch) not in ("Cf", "Cs"))
    name = " ".join(_UNSAFE.sub("_", name).split())
    name = name.strip(" .")  # Windows drops trailing dots and spaces: "run.exe." runs run.exe
    if not name:
        name = "attachment" + (mimetypes.guess_extension(content_type) or ".bin")
    if len(name) > FILENAME_MAX:
        stem, dot, ext = name.rpartition(".")
        if dot and 0 < len(ext) <= 16:
            name = stem[: FILENAME_MAX - len(ext) - 1].rstrip(" .") + "." + ext
        else:
            name = name[:FILENAME_MAX].rstrip(" .")
    return name


def refusal(filenames: list[str], content_type: str, data: bytes) -> str | None:
    """Why the attachment is refused (an executable type), or None when it may be stored."""
    for filename in filenames:
        extension = _extension(filename)
        if extension in EXECUTABLE_EXTENSIONS:
            return f"executable type {extension}"
    if content_type in EXECUTABLE_TYPES:
        return f"executable type {content_type}"
    if _is_program(data):
        return "executable content"
    return None


def _is_program(data: bytes) -> bool:
    """A Windows PE, ELF or Mach-O program or a `#!` script, whatever its name and type say."""
    if data.startswith((b"\x7fELF", b"#!", *_MACH_O_MAGIC)):
        return True
    if not data.startswith(b"MZ") or len(data) < 0x40:
        return False
    pe_offset = int.from_bytes(data[0x3C:0x40], "little")
    return data[pe_offset : pe_offset + 4] == b"PE\x00\x00"


def part_filenames(part: MIMEPart, content_type: str | None = None) -> list[str]:
    """Every name the part gives itself (Content-Disposition filename, Content-Type name), sanitised."""
    content_type = content_type or part.get_content_type()
    names = [part.get_filename(), part.get_param("name", header="content-type")]
    found: list[str] = []
    for name in names:
        if isinstance(name, tuple):  # an RFC 2231 value email did not collapse
            name = collapse_rfc2231_value(name)
        if isinstance(name, str) and name.strip():
            cleaned = safe_filename(name, content_type)
            if cleaned not in found:
                found.append(cleaned)
    return found


def _extension(filename: str) -> str:
    _, dot, ext = filename.lower().rpartition(".")
    return "." + ext if dot else ""
