"""The worker's side of its sink service's start: the service binds its own ports and writes
them to a pipe (no port picked by the worker that something else could take first)."""
import os

from creditstream.runtime import SinkServiceProcess, report_ports
from creditstream.settings import Settings


def test_the_ports_the_service_bound_reach_the_worker_through_the_pipe():
    handle = SinkServiceProcess(Settings(web_host="127.0.0.1"))
    assert handle.arguments() == ("sink", "--ports-fd", str(handle.ports_pipe[1]))
    writer = os.dup(handle.ports_pipe[1])  # the child's copy of the write end
    handle.started()
    assert not handle.read_ports() and handle.query_port == 0  # nothing written yet
    report_ports(writer, metrics_port=41001, query_port=41002)
    assert handle.read_ports()
    assert handle.query_port == 41002
    assert handle.url == "http://127.0.0.1:41001/metrics"


def test_a_line_written_in_pieces_is_read_only_once_whole():
    handle = SinkServiceProcess(Settings(web_host="127.0.0.1"))
    writer = os.dup(handle.ports_pipe[1])
    handle.started()
    os.write(writer, b'{"metrics_port": 41001, ')
    assert not handle.read_ports() and handle.ports is None
    os.write(writer, b'"query_port": 0}\n')
    assert handle.read_ports() and handle.ports == {"metrics_port": 41001, "query_port": 0}
    os.close(writer)


def test_a_service_that_dies_before_writing_is_never_ready():
    handle = SinkServiceProcess(Settings(web_host="127.0.0.1"))
    os.close(os.dup(handle.ports_pipe[1]))  # the child's end, closed unwritten (the child exited)
    handle.started()
    assert not handle.read_ports() and not handle.ready()  # the start loop's poll() then reports the exit
