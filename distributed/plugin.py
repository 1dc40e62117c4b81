"""``theon-opt --plugin theon.distributed.plugin``: adds the
``data-parallel-split`` pass (``split.py``) to theon-opt's pass names.

    theon-opt step.ir --plugin theon.distributed.plugin -p data-parallel-split
"""
from .split import register

register()
