"""The store conformance kit (pytest mixins): see :mod:`chunkwise.connectors.testing`.

Example::

    from chunkwise.testing import StoreConformance

    class TestMyStore(StoreConformance):
        @pytest.fixture
        def store(self):
            with MyStore() as store:
                yield store
"""

import pytest

pytest.register_assert_rewrite("chunkwise.connectors.testing")  # the kit's asserts say what differed

from chunkwise.connectors.testing import *  # noqa: E402, F403
from chunkwise.connectors.testing import __all__  # noqa: E402, F401
