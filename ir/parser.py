"""Read the IR's text form (see ``ir/printer.py`` for the grammar) back into
a Module: a hand-written lexer and a recursive-descent parser.

Every error is a ``ParseError`` positioned at ``filename:line:col`` (1-based).
Ops are looked up in ``ir.dialect.OPS`` (or the ``ops`` mapping given),
built with their declared result types, and the module is verified at the
end; verifier errors are reported at the offending op's position.
"""
import difflib
import json
import re
from dataclasses import dataclass

import numpy as np

from .core import DYN, Block, Function, Module, Operation, splat
from .location import SourceLoc
from .dialect import OPS
from .printer import IDENT_RE
from .types import DTYPES, SHORT_TO_DTYPE, TensorType
from .verifier import VerifyError, verify_module


class ParseError(ValueError):
    def __init__(self, message, filename="<string>", line=1, col=1):
        self.message = message
        self.filename = filename
        self.line = line
        self.col = col
        super().__init__(f"{filename}:{line}:{col}: {message}")


def parse_module(text, filename="<string>", *, ops=None, verify=True):
    """The Module that ``text`` describes. ``ops`` (name -> OpDef) replaces
    the dialect's registry; ``verify=False`` skips the verifier."""
    parser = _Parser(text, filename, OPS if ops is None else ops)
    module = parser.module()
    if verify:
        try:
            verify_module(module)
        except VerifyError as e:
            raise parser.verify_error(e) from None
    return module


def parse_function(text, filename="<string>", *, ops=None, verify=True):
    """The one function that ``text`` describes."""
    module = parse_module(text, filename, ops=ops, verify=verify)
    if len(module.functions) != 1:
        raise ParseError(f"expected exactly one function, found {len(module.functions)}", filename)
    return module.functions[0]


# --- lexer ------------------------------------------------------------------------
class Token:
    __slots__ = ("kind", "text", "line", "col", "value")

    def __init__(self, kind, text, line, col, value=None):
        self.kind = kind        # ident value symbol caret int float string type punct eof
        self.text = text
        self.line = line
        self.col = col
        self.value = value


_PUNCT = "(){}[]<>,:=?"
_DIGITS = "0123456789"
_NUMBER_RE = re.compile(r"-?(?:0x[0-9A-Fa-f]+|[0-9]+(\.[0-9]*)?([eE][+-]?[0-9]+)?)")
_WORD_RE = re.compile(r"[A-Za-z0-9_.]+")
_IDENT_START_RE = re.compile(r"[A-Za-z_]")
_STRING_RE = re.compile(r'"(?:[^"\\\n]|\\.)*"')
_SPACE_RE = re.compile(r"(?:[ \t\r\n]+|//[^\n]*)*")


class _Lexer:
    def __init__(self, text, filename):
        self.text = text
        self.filename = filename
        self.i = 0
        self.line = 1
        self.line_start = 0

    def error(self, message, i=None):
        i = self.i if i is None else i
        line = self.text.count("\n", 0, i) + 1
        col = i - (self.text.rfind("\n", 0, i) + 1) + 1
        return ParseError(message, self.filename, line, col)

    def skip_space(self):
        start = self.i
        end = _SPACE_RE.match(self.text, start).end()
        newlines = self.text.count("\n", start, end)
        if newlines:
            self.line += newlines
            self.line_start = self.text.rfind("\n", start, end) + 1
        self.i = end

    def token(self, kind, start, value=None):
        return Token(kind, self.text[start:self.i], self.line, start - self.line_start + 1, value)

    def next(self):
        self.skip_space()
        text, start = self.text, self.i
        if start >= len(text):
            return self.token("eof", start)
        c = text[start]
        if c in "%@^":
            return self.sigil(c)
        if c == '"':
            return self.string()
        if c in _DIGITS or c == "-":       # ASCII digits only: not '²' or Arabic-Indic digits
            return self.number()
        if _IDENT_START_RE.match(c):
            m = _WORD_RE.match(text, start)
            self.i = m.end()
            word = m.group()
            if word == "tensor" and text.startswith("<", self.i):
                return self.tensor_type(start)
            return self.token("ident", start, word)
        if c in _PUNCT:
            self.i += 1
            return self.token("punct", start, c)
        raise self.error(f"unexpected character {c!r}")

    def sigil(self, c):
        start = self.i
        self.i += 1
        if c == "@" and self.text.startswith('"', self.i):
            tok = self.string()
            return Token("symbol", self.text[start:self.i], tok.line, start - self.line_start + 1, tok.value)
        m = _WORD_RE.match(self.text, self.i)
        if m is None:
            raise self.error(f"expected a name after {c!r}")
        self.i = m.end()
        name = m.group()
        if not (name.isdigit() or IDENT_RE.match(name)):
            raise self.error(f"bad name {c}{name} (expected a number or an identifier)", start)
        kind = {"%": "value", "@": "symbol", "^": "caret"}[c]
        return self.token(kind, start, name)

    def string(self):
        start = self.i
        m = _STRING_RE.match(self.text, start)
        if m is None:
            raise self.error("unterminated string literal")
        self.i = m.end()
        try:
            value = json.loads(m.group())
        except ValueError as e:
            raise self.error(f"bad string literal {m.group()}: {e}", start) from None
        return self.token("string", start, value)

    def number(self):
        start = self.i
        text = self.text
        if text.startswith("-inf", start) and not _WORD_RE.match(text, start + 4):
            self.i += 4
            return self.token("float", start, float("-inf"))
        m = _NUMBER_RE.match(text, start)
        if m is None:
            raise self.error("expected a number after '-'")
        self.i = m.end()
        if _WORD_RE.match(text, self.i):
            raise self.error(f"bad number {text[start:_WORD_RE.match(text, self.i).end()]!r}", start)
        word = m.group()
        if "0x" in word:
            return self.token("int", start, int(word, 16))
        if m.group(1) is not None or m.group(2) is not None:
            return self.token("float", start, float(word))
        return self.token("int", start, int(word))

    def tensor_type(self, start):
        """``tensor<(DIM x)* DTYPE>`` as one token whose value is a TensorType."""
        text = self.text
        body_start = self.i + 1
        end = body_start
        while end < len(text) and ((text[end].isascii() and text[end].isalnum()) or text[end] == "?"):
            end += 1
        if end >= len(text) or text[end] != ">":
            raise self.error("expected '>' to close the tensor type", end)
        parts = text[body_start:end].split("x")
        dims, pos = [], body_start
        for part in parts[:-1]:
            if part == "?":
                dims.append(None)
            elif part.isascii() and part.isdigit():
                dims.append(int(part))
            else:
                raise self.error(f"bad dimension {part!r} in tensor type (expected an int or '?')", pos)
            pos += len(part) + 1
        dtype = parts[-1]
        if dtype not in SHORT_TO_DTYPE:
            what = f"unknown dtype {dtype!r}" if dtype else "missing dtype"
            raise self.error(f"{what} in tensor type (expected one of {', '.join(DTYPES.values())})", pos)
        self.i = end + 1
        return self.token("type", start, TensorType(SHORT_TO_DTYPE[dtype], dims))


# --- parser -------------------------------------------------------------------------
@dataclass
class _Dense:
    """A dense<...> literal waiting for its type (the op's result type)."""
    elements: object    # nested lists of element Tokens, or one Token
    token: Token        # the 'dense' keyword
    type: object = None


def _describe(tok):
    return "end of input" if tok.kind == "eof" else repr(tok.text)


class _Parser:
    def __init__(self, text, filename, ops):
        self.filename = filename
        self.ops = ops
        self.lexer = _Lexer(text, filename)
        self.tok = self.lexer.next()    # the current token
        self.scopes = []            # [{name: Value}], innermost last
        self.func_locs = {}         # id(Function) -> (filename, line, col)

    # tokens
    def peek(self):
        return self.tok

    def advance(self):
        tok = self.tok
        if tok.kind != "eof":
            self.tok = self.lexer.next()
        return tok

    def error(self, message, tok=None):
        tok = tok or self.peek()
        return ParseError(message, self.filename, tok.line, tok.col)

    def at(self, kind, value=None):
        tok = self.tok
        return tok.kind == kind and (value is None or tok.value == value)

    def accept(self, kind, value=None):
        if self.at(kind, value):
            return self.advance()
        return None

    def expect(self, kind, value=None, what=None):
        if self.at(kind, value):
            return self.advance()
        what = what or (repr(value) if value is not None else kind)
        raise self.error(f"expected {what}, got {_describe(self.peek())}")

    def loc(self, tok):
        return (self.filename, tok.line, tok.col)

    def verify_error(self, e):
        loc = e.loc or self.func_locs.get(id(e.func)) or (self.filename, 1, 1)
        return ParseError(e.detail, *loc)

    # values and scopes
    def lookup(self, tok):
        for scope in reversed(self.scopes):
            if tok.value in scope:
                return scope[tok.value]
        raise self.error(f"undefined value {tok.text}", tok)

    def check_new(self, tok, pending=()):
        if any(tok.value in scope for scope in self.scopes) or tok.value in pending:
            raise self.error(f"value {tok.text} is defined twice", tok)

    def define(self, tok, value):
        self.scopes[-1][tok.value] = value

    # module / function
    def module(self):
        functions = []
        while not self.at("eof"):
            functions.append(self.function())
        return Module(functions)

    def function(self):
        start = self.expect("ident", "func", "'func'")
        name = self.expect("symbol", what="a function name like @f").value
        self.expect("punct", "(", "'(' after the function name")
        arg_toks, types, attrs = self.arg_list("argument", "the argument list", with_attrs=True)
        func = Function(name, types, _names(arg_toks), attrs)
        self.func_locs[id(func)] = self.loc(start)
        self.scopes = [{}]
        for tok, arg in zip(arg_toks, func.args):
            self.define(tok, arg)
        self.expect("punct", "{", "'{' to open the function body")
        self.ops_until_close(func.body, f"function @{name}")
        self.scopes = []
        return func

    def arg_list(self, noun, where, with_attrs):
        """``%x: type [attrs], ...)`` after the '(': (name tokens, types, attr dicts)."""
        what = ("an " if noun[0] in "aeiou" else "a ") + noun
        toks, types, attrs = [], [], []
        if self.accept("punct", ")"):
            return toks, types, attrs
        while True:
            tok = self.expect("value", what=f"{what} like %x")
            self.check_new(tok, {t.value for t in toks})
            self.expect("punct", ":", f"':' and the {noun}'s type")
            toks.append(tok)
            types.append(self.type())
            if with_attrs:
                raw = self.attr_dict() if self.at("punct", "{") else {}
                attrs.append({k: self.resolve_dense(v, [], "an argument") for k, v in raw.items()})
            if self.accept("punct", ")"):
                return toks, types, attrs
            self.expect("punct", ",", f"',' or ')' in {where}")

    def ops_until_close(self, block, what):
        while not self.accept("punct", "}"):
            if self.at("eof") or self.at("ident", "func"):
                raise self.error(f"expected '}}' to close {what}, got {_describe(self.peek())}")
            self.operation(block)

    # operations
    def operation(self, block):
        result_toks = []
        if self.at("value"):
            while True:
                tok = self.expect("value", what="a result name like %0")
                self.check_new(tok, {t.value for t in result_toks})
                result_toks.append(tok)
                if self.accept("punct", "="):
                    break
                self.expect("punct", ",", "',' or '=' after the result names")
        name_tok = self.expect("ident", what="an op name")
        opdef = self.ops.get(name_tok.value)
        if opdef is None:
            close = difflib.get_close_matches(name_tok.value, list(self.ops), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise self.error(f"unknown op {name_tok.value!r}{hint}", name_tok)
        operands = self.operand_list(name_tok.value)
        regions = self.region_list() if self.at("punct", "(") else []
        attrs = self.attr_dict() if self.at("punct", "{") else {}
        types = []
        colon = self.accept("punct", ":")
        if colon:
            types.append(self.type())
            while self.accept("punct", ","):
                types.append(self.type())
        if len(types) != len(result_toks):
            raise self.error(f"{name_tok.value} names {len(result_toks)} results but declares "
                             f"{len(types)} result types", colon or name_tok)
        source = self.source_loc() if self.at("ident", "loc") else None
        attrs = {k: self.resolve_dense(v, types, name_tok.value) for k, v in attrs.items()}
        op = Operation(opdef, operands, attrs, result_types=types, regions=regions,
                       result_names=_names(result_toks))
        op.loc = source or self.loc(name_tok)
        block.append(op)
        for tok, r in zip(result_toks, op.results):
            self.define(tok, r)
        return op

    def source_loc(self):
        """``loc("file.py":12)``: the user code that built the op (ir/location.py)."""
        self.expect("ident", "loc")
        self.expect("punct", "(", "'(' after loc")
        filename = self.expect("string", what='a file name like "model.py"').value
        self.expect("punct", ":", "':' and a line number")
        line = self.expect("int", what="a line number").value
        self.expect("punct", ")", "')' to close loc(...)")
        return SourceLoc(filename, line)

    def operand_list(self, opname):
        self.expect("punct", "(", f"'(' after {opname}")
        operands = []
        if self.accept("punct", ")"):
            return operands
        while True:
            operands.append(self.lookup(self.expect("value", what=f"an operand of {opname}")))
            if self.accept("punct", ")"):
                return operands
            self.expect("punct", ",", f"',' or ')' in the operands of {opname}")

    def region_list(self):
        self.expect("punct", "(")
        regions = [self.region()]
        while self.accept("punct", ","):
            regions.append(self.region())
        self.expect("punct", ")", "')' to close the region list")
        return regions

    def region(self):
        self.expect("punct", "{", "'{' to open a region")
        self.expect("caret", what="a block label like ^bb")
        self.expect("punct", "(", "'(' after the block label")
        arg_toks, types, _ = self.arg_list("block argument", "the block arguments", with_attrs=False)
        self.expect("punct", ":", "':' after the block label")
        block = Block(types, _names(arg_toks))
        self.scopes.append({})
        for tok, arg in zip(arg_toks, block.args):
            self.define(tok, arg)
        self.ops_until_close(block, "the region")
        self.scopes.pop()
        return block

    def type(self):
        return self.expect("type", what="a type like tensor<?x3xf64>").value

    # attributes
    def attr_dict(self):
        self.expect("punct", "{")
        attrs = {}
        if self.accept("punct", "}"):
            return attrs
        while True:
            key_tok = self.peek()
            if key_tok.kind not in ("ident", "string"):
                raise self.error(f"expected an attribute name, got {_describe(key_tok)}")
            self.advance()
            if key_tok.value in attrs:
                raise self.error(f"attribute {key_tok.value!r} is given twice", key_tok)
            self.expect("punct", "=", f"'=' after attribute {key_tok.value!r}")
            attrs[key_tok.value] = self.attr_value(top=True)
            if self.accept("punct", "}"):
                return attrs
            self.expect("punct", ",", "',' or '}' in the attribute dict")

    def attr_value(self, top=False):
        tok = self.advance()
        if tok.kind in ("int", "float", "string"):
            return tok.value
        if tok.kind == "punct" and tok.value == "?":
            return DYN
        if tok.kind == "punct" and tok.value == "[":
            items = []
            if self.accept("punct", "]"):
                return tuple(items)
            while True:
                items.append(self.attr_value())
                if self.accept("punct", "]"):
                    return tuple(items)
                self.expect("punct", ",", "',' or ']' in the list")
        if tok.kind == "ident":
            if tok.value in _KEYWORDS:
                return _KEYWORDS[tok.value]
            if tok.value == "dense":
                if not top:
                    raise self.error("dense<...> must be a whole attribute value, not inside a list", tok)
                return self.dense(tok)
        raise self.error(f"bad attribute value {_describe(tok)}", tok)

    def dense(self, keyword):
        self.expect("punct", "<", "'<' after dense")
        elements = self.dense_elements()
        self.expect("punct", ">", "'>' to close dense<...")
        explicit = self.type() if self.accept("punct", ":") else None
        return _Dense(elements, keyword, explicit)

    def dense_elements(self):
        if self.accept("punct", "["):
            items = []
            if self.accept("punct", "]"):
                return items
            while True:
                items.append(self.dense_elements())
                if self.accept("punct", "]"):
                    return items
                self.expect("punct", ",", "',' or ']' in dense<...>")
        tok = self.peek()
        if tok.kind in ("int", "float") or (tok.kind == "ident" and tok.value in _ELEMENT_WORDS):
            return self.advance()
        raise self.error(f"expected a dense element, got {_describe(tok)}")

    def resolve_dense(self, value, result_types, opname):
        if not isinstance(value, _Dense):
            return value
        ttype = value.type
        if ttype is None:
            if len(result_types) != 1:
                raise self.error(f"dense<...> of {opname} needs an explicit ': tensor<...>' "
                                 f"(there are {len(result_types)} result types to take it from)", value.token)
            ttype = result_types[0]
        return _DenseBuilder(self, value, ttype).array()


def _names(toks):
    """Value names of ``%name`` tokens (None for numbers like ``%0``)."""
    return [None if t.value.isdigit() else t.value for t in toks]


_KEYWORDS = {"true": True, "false": False, "none": None,
             "inf": float("inf"), "nan": float("nan")}
_ELEMENT_WORDS = ("true", "false", "inf", "nan")


class _DenseBuilder:
    """A numpy array of type ``ttype`` from the tokens of a dense<...>."""

    def __init__(self, parser, dense, ttype):
        self.parser = parser
        self.dense = dense
        self.ttype = ttype
        self.dtype = ttype.np_dtype

    def error(self, message, tok=None):
        return self.parser.error(message, tok or self.dense.token)

    def array(self):
        elements = self.dense.elements
        shape = self.nested_shape(elements)
        flat = []
        self.flatten(elements, flat)
        values = np.empty(len(flat), self.dtype)
        for i, tok in enumerate(flat):
            values[i] = self.element(tok)
        target = self.target_shape(shape)
        if shape == () and target != ():
            return splat(values[0], target, self.dtype)         # one element, never materialized
        return values.reshape(target)

    def nested_shape(self, elements):
        if isinstance(elements, Token):
            return ()
        if not elements:
            return (0,)
        shapes = [self.nested_shape(e) for e in elements]
        if any(s != shapes[0] for s in shapes):
            raise self.error("dense<...> rows have different lengths or depths")
        return (len(elements),) + shapes[0]

    def flatten(self, elements, out):
        if isinstance(elements, Token):
            out.append(elements)
            return
        for e in elements:
            self.flatten(e, out)

    def target_shape(self, shape):
        tshape = self.ttype.shape
        if shape == () and tshape:
            if None in tshape:
                raise self.error(f"splat dense<...> needs a static type, got {self.ttype}")
            return tshape
        bad = self.error(f"dense<...> has shape {shape}, but its type is {self.ttype}")
        if len(shape) > len(tshape):
            raise bad
        out = []
        for i, t in enumerate(tshape):
            if i < len(shape):
                if t is not None and t != shape[i]:
                    raise bad
                out.append(shape[i])
            elif shape and shape[-1] == 0 and t is not None:
                out.append(t)           # dims after an empty list: from the type
            else:
                raise bad
        return tuple(out)

    def element(self, tok):
        kind = self.dtype.kind
        name = DTYPES[self.ttype.dtype]
        if kind == "b":
            if tok.kind == "ident" and tok.value in ("true", "false"):
                return tok.value == "true"
            raise self.error(f"expected true or false in dense<...> of {name}, got {tok.text}", tok)
        if kind in "iu":
            if tok.kind != "int":
                raise self.error(f"expected an integer in dense<...> of {name}, got {tok.text}", tok)
            info = np.iinfo(self.dtype)
            if not info.min <= tok.value <= info.max:
                raise self.error(f"{tok.text} is out of range for {name}", tok)
            return tok.value
        if tok.kind == "int" and "0x" in tok.text:
            return self.bit_pattern(tok, name)
        if tok.kind in ("int", "float"):
            return float(tok.value)
        if tok.kind == "ident" and tok.value in ("inf", "nan"):
            return _KEYWORDS[tok.value]
        raise self.error(f"expected a number in dense<...> of {name}, got {tok.text}", tok)

    def bit_pattern(self, tok, name):
        uint = {2: np.uint16, 4: np.uint32}.get(self.dtype.itemsize, np.uint64)
        if tok.text.startswith("-") or tok.value >= 2 ** (8 * self.dtype.itemsize):
            raise self.error(f"bit pattern {tok.text} does not fit {name}", tok)
        return np.array(tok.value, uint).view(self.dtype)[()]
