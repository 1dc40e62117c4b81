"""Creating operations by op name, floating or inside a block."""
from .core import Operation, Value
from .dialect import get_op


def make_op(name, operands, attrs=None, value_cls=Value, result_types=None, regions=()):
    """A new floating Operation ``name(operands) {attrs}``; types are inferred
    (raising TypeError/ValueError that names the op) unless given."""
    return Operation(get_op(name), operands, attrs, result_types, regions, value_cls)


def apply(name, *operands, value_cls=Value, **attrs):
    """The single result of a new floating ``name`` op."""
    return make_op(name, operands, attrs, value_cls).result


class Builder:
    """Appends new operations at the end of (or before an anchor in) a block."""

    def __init__(self, block, before=None):
        self.block = block
        self.before = before

    def create(self, name, operands, attrs=None, result_types=None, regions=()):
        op = make_op(name, operands, attrs, result_types=result_types, regions=regions)
        if self.before is None:
            self.block.append(op)
        else:
            self.block.insert_before(self.before, op)
        return op

    def __call__(self, name, *operands, **attrs):
        return self.create(name, operands, attrs).result
