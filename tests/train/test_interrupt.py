import os
import signal
import time

import pytest

from matnet.train.interrupt import deferred_sigint


def test_first_ctrl_c_is_deferred_second_interrupts_at_once():
    requests = []
    with pytest.raises(KeyboardInterrupt):
        with deferred_sigint(lambda: requests.append("stop")):
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)                       # the handler runs here; nothing is raised
            assert requests == ["stop"]
            os.kill(os.getpid(), signal.SIGINT)    # the second one raises KeyboardInterrupt
            time.sleep(1)
            pytest.fail("the second Ctrl-C did not interrupt")
    assert requests == ["stop"]


def test_the_previous_handler_comes_back():
    before = signal.getsignal(signal.SIGINT)
    with deferred_sigint(lambda: None):
        assert signal.getsignal(signal.SIGINT) is not before
    assert signal.getsignal(signal.SIGINT) is before
