#!/usr/bin/env python3
"""Lists the callbacks of a Linux driver module, for `lockcheck --entry`.

usage: llvm-dis-22 driver.bc -o - | entries.py [--why]
       entries.py [--why] driver.ll

The kernel reaches a driver only through function pointers: ops tables and
driver structs (net_device_ops, ethtool_ops, pci_driver, usb_serial_driver,
uart_ops, ... as global initializers), pointers handed over at run time
(request_irq, timer_setup, INIT_WORK, tasklet_setup: an argument of a call,
or a store), module_init/module_exit (the init_module/cleanup_module
aliases of a module, the __initcall/__exitcall globals of built-in code) and
EXPORT_SYMBOL (__ksymtab_* entries: other modules call those). lockcheck
cannot see these registrations in a Linux module yet, so this script finds
every defined function whose address is taken anywhere in the module and
prints one name a line, sorted.

A function that is only ever called directly (a helper, an inline lock
wrapper such as spin_lock or uart_port_lock_irqsave) is not an entry: it runs
in its caller's context, and lockcheck checks it through its callers. Its
address would have to be taken for it to be listed.

--why prints, after each name, where its address was first seen.
"""

import re
import sys

# An LLVM global name: @name or @"quoted name".
NAME = r'@(?:"(?:[^"\\]|\\.)*"|[-A-Za-z$._0-9]+)'
DEFINE = re.compile(r'^define\b[^@]*(' + NAME + r')\(')
GLOBAL = re.compile(r'^(' + NAME + r') = ')
REF = re.compile(NAME + r'(?P<call>\()?')
# blockaddress(@f, %bb) names a label inside f, not f's address.
BLOCKADDRESS = re.compile(r'blockaddress\(' + NAME + ',')
ASM_WORD = re.compile(r'[A-Za-z_.$][A-Za-z_.$0-9]*')


def bare(token):
    name = token[1:]
    if name.startswith('"'):
        name = name[1:-1]
    return name


def scan(lines):
    defined = set()
    # (name, where) pairs in the order seen; filtered to defined functions
    # at the end, since a reference may come before the definition.
    taken = []
    asm_words = set()
    current = None  # the function whose body we are in
    for line in lines:
        if current is None:
            m = DEFINE.match(line)
            if m:
                current = bare(m.group(1))
                defined.add(current)
                continue
            m = GLOBAL.match(line)
            if m:
                # Every function reference in an initializer or alias is an
                # address: ops tables, __ksymtab, init_module aliases,
                # __UNIQUE_ID___addressable_* (initcalls), llvm.used.
                owner = bare(m.group(1))
                rest = line[m.end():]
                for ref in REF.finditer(rest):
                    taken.append((bare(ref.group(0).rstrip('(')), 'initializer of @' + owner))
                continue
            if line.startswith('module asm '):
                # Built-in initcalls on x86_64 are emitted as asm referring to
                # the function by name (`.long fn - .`).
                asm_words.update(ASM_WORD.findall(line[len('module asm '):]))
            continue
        if line.startswith('}'):
            current = None
            continue
        body = BLOCKADDRESS.sub('', line)
        for ref in REF.finditer(body):
            # `@f(` is a direct call's callee; any other use of @f (a call
            # argument, a store, a select) hands its address to someone.
            if ref.group('call') is None:
                taken.append((bare(ref.group(0)), 'used in ' + current))
    return defined, taken, asm_words


def main(argv):
    why = '--why' in argv
    paths = [a for a in argv if a != '--why']
    if len(paths) > 1 or any(p.startswith('-') for p in paths):
        sys.exit('entries.py: usage: entries.py [--why] [FILE.ll]  (or textual IR on stdin)')
    try:
        stream = open(paths[0], encoding='utf-8', errors='replace') if paths else sys.stdin
    except OSError as e:
        sys.exit(f'entries.py: cannot read {paths[0]}: {e.strerror}')
    with stream:
        defined, taken, asm_words = scan(stream)
    if not defined:
        sys.exit('entries.py: no function definitions in the input (expected llvm-dis-22 output)')
    found = {}
    for name, where in taken:
        if name in defined and name not in found:
            found[name] = where
    for name in sorted(defined & asm_words):
        found.setdefault(name, 'named in module asm')
    for name in sorted(found):
        print(f'{name}\t{found[name]}' if why else name)


if __name__ == '__main__':
    main(sys.argv[1:])
