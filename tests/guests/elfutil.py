"""Minimal ELF header reading and patching for the guest tests (standard library only).

Used by run_guest_tests.py to derive malformed binaries from a good guest, and by
fake_mmuemu.py to check an ELF file the way mmuemu's loader is expected to.
"""

import struct

EI_CLASS, EI_DATA = 4, 5
ELFCLASS32, ELFCLASS64 = 1, 2
ELFDATA2LSB = 1
ET_EXEC, ET_DYN = 2, 3
EM_386, EM_X86_64 = 3, 62
PT_LOAD, PT_INTERP = 1, 3

# name -> (32-bit offset, 64-bit offset, struct code for 32-bit, for 64-bit)
EHDR_FIELDS = {
    'e_type': (16, 16, 'H', 'H'),
    'e_machine': (18, 18, 'H', 'H'),
    'e_version': (20, 20, 'I', 'I'),
    'e_entry': (24, 24, 'I', 'Q'),
    'e_phoff': (28, 32, 'I', 'Q'),
    'e_shoff': (32, 40, 'I', 'Q'),
    'e_flags': (36, 48, 'I', 'I'),
    'e_ehsize': (40, 52, 'H', 'H'),
    'e_phentsize': (42, 54, 'H', 'H'),
    'e_phnum': (44, 56, 'H', 'H'),
}
PHDR_FIELDS = {
    'p_type': (0, 0, 'I', 'I'),
    'p_flags': (24, 4, 'I', 'I'),
    'p_offset': (4, 8, 'I', 'Q'),
    'p_vaddr': (8, 16, 'I', 'Q'),
    'p_paddr': (12, 24, 'I', 'Q'),
    'p_filesz': (16, 32, 'I', 'Q'),
    'p_memsz': (20, 40, 'I', 'Q'),
    'p_align': (28, 48, 'I', 'Q'),
}
EHDR_SIZE = {ELFCLASS32: 52, ELFCLASS64: 64}
PHDR_SIZE = {ELFCLASS32: 32, ELFCLASS64: 56}


class Elf:
    """A little-endian ELF image held as a bytearray, with field access by name."""

    def __init__(self, data):
        self.data = bytearray(data)
        if self.data[:4] != b'\x7fELF':
            raise ValueError('not an ELF file')
        self.cls = self.data[EI_CLASS]
        if self.cls not in (ELFCLASS32, ELFCLASS64):
            raise ValueError('bad ELF class')
        self.is64 = self.cls == ELFCLASS64

    def _field(self, table, name):
        off32, off64, c32, c64 = table[name]
        return (off64, c64) if self.is64 else (off32, c32)

    def get(self, name):
        off, code = self._field(EHDR_FIELDS, name)
        return struct.unpack_from('<' + code, self.data, off)[0]

    def set(self, name, value):
        off, code = self._field(EHDR_FIELDS, name)
        struct.pack_into('<' + code, self.data, off, value)

    def phdr_offset(self, i):
        return self.get('e_phoff') + i * self.get('e_phentsize')

    def pget(self, i, name):
        off, code = self._field(PHDR_FIELDS, name)
        return struct.unpack_from('<' + code, self.data, self.phdr_offset(i) + off)[0]

    def pset(self, i, name, value):
        off, code = self._field(PHDR_FIELDS, name)
        struct.pack_into('<' + code, self.data, self.phdr_offset(i) + off, value)

    def phdrs(self):
        return range(self.get('e_phnum'))

    def loads(self):
        return [i for i in self.phdrs() if self.pget(i, 'p_type') == PT_LOAD]

    @property
    def addr_max(self):
        return (1 << 64) - 1 if self.is64 else (1 << 32) - 1


def check(data, user_top=None):
    """Check an image the way a static-ELF loader must; return None or a one-line problem.

    user_top: the first address that is not user space (default: 2**47 for x86-64, 2**32 for
    i386). Mirrors the malformed-ELF cases of run_guest_tests.py.
    """
    if len(data) == 0:
        return 'empty file'
    if len(data) < 16 or data[:4] != b'\x7fELF':
        return 'not an ELF file (bad magic)'
    cls = data[EI_CLASS]
    if cls not in (ELFCLASS32, ELFCLASS64):
        return 'bad ELF class %d' % cls
    if data[EI_DATA] != ELFDATA2LSB:
        return 'not a little-endian ELF file'
    if len(data) < EHDR_SIZE[cls]:
        return 'truncated ELF header'
    elf = Elf(data)
    machine = elf.get('e_machine')
    if (cls, machine) not in ((ELFCLASS32, EM_386), (ELFCLASS64, EM_X86_64)):
        return 'unsupported machine %d for ELF class %d (need i386 or x86-64)' % (machine, cls)
    if elf.get('e_type') not in (ET_EXEC, ET_DYN):
        return 'not an executable (e_type %d)' % elf.get('e_type')
    if elf.get('e_phentsize') != PHDR_SIZE[cls]:
        return 'bad e_phentsize %d' % elf.get('e_phentsize')
    phoff, phnum = elf.get('e_phoff'), elf.get('e_phnum')
    if phnum == 0 or phnum > 1024:
        return 'bad e_phnum %d' % phnum
    if phoff + phnum * PHDR_SIZE[cls] > len(data):
        return 'program headers extend past the end of the file'
    top = user_top if user_top is not None else ((1 << 47) if elf.is64 else (1 << 32))
    nload = 0
    for i in elf.phdrs():
        ptype = elf.pget(i, 'p_type')
        if ptype == PT_INTERP:
            return 'dynamically linked binaries are not supported yet'
        if ptype != PT_LOAD:
            continue
        nload += 1
        off, filesz = elf.pget(i, 'p_offset'), elf.pget(i, 'p_filesz')
        vaddr, memsz = elf.pget(i, 'p_vaddr'), elf.pget(i, 'p_memsz')
        if off + filesz > len(data):
            return 'PT_LOAD %d: file range extends past the end of the file' % i
        if filesz > memsz:
            return 'PT_LOAD %d: p_filesz > p_memsz' % i
        if vaddr + memsz > elf.addr_max:
            return 'PT_LOAD %d: p_vaddr + p_memsz overflows' % i
        if vaddr + memsz > top:
            return 'PT_LOAD %d: segment outside user space' % i
    if nload == 0:
        return 'no PT_LOAD segment'
    return None
