#!/usr/bin/env python3
"""Writes the hostile-request corpus (tests/http/corpus/*.http) and its expectations.

Each case is the raw bytes a client sends, the statuses it must get back in order, and how it
is sent: `all` (one write), `eof` (one write, then the client half-closes), `slow` (a line every
150 ms: slower than the test server's header timeout). The test server runs with the default
header limit (16 KiB), a body limit of 64 KiB and a header timeout of 500 ms. "close" means the server closes without
a response. After an error status the server must close the connection. Rerun after editing:
    python3 tests/http/make-corpus.py
"""
import os

here = os.path.dirname(os.path.abspath(__file__))
out = os.path.join(here, "corpus")

H = b"Host: x\r\n"
GOOD = b"GET /hello HTTP/1.1\r\n" + H + b"\r\n"


def post(headers, body=b""):
    return b"POST /echo HTTP/1.1\r\n" + H + headers + b"\r\n" + body


cases = [
    # name, bytes, expected statuses, mode
    ("bad_method_lowercase", b"get /hello HTTP/1.1\r\n" + H + b"\r\n", "400", "all"),
    ("bad_method_symbol", b"G@T /hello HTTP/1.1\r\n" + H + b"\r\n", "400", "all"),
    ("bad_method_unknown", b"FOO /hello HTTP/1.1\r\n" + H + b"\r\n", "400", "all"),
    ("bad_method_empty", b" /hello HTTP/1.1\r\n" + H + b"\r\n", "400", "all"),
    ("bad_version_9_9", b"GET /hello HTTP/9.9\r\n" + H + b"\r\n", "400", "all"),
    ("bad_version_2_0", b"GET /hello HTTP/2.0\r\n" + H + b"\r\n", "505", "all"),
    ("bad_version_protocol", b"GET /hello HTTX/1.1\r\n" + H + b"\r\n", "400", "all"),
    ("bad_version_missing", b"GET /hello\r\n" + H + b"\r\n", "400", "all"),
    ("bad_version_lowercase", b"GET /hello http/1.1\r\n" + H + b"\r\n", "400", "all"),
    ("bad_target_space", b"GET /hel lo HTTP/1.1\r\n" + H + b"\r\n", "400", "all"),
    ("bad_header_no_colon", b"GET /hello HTTP/1.1\r\nHost x\r\n\r\n", "400", "all"),
    ("bad_header_space_before_colon", b"GET /hello HTTP/1.1\r\nHost : x\r\n\r\n", "400", "all"),
    ("bad_header_name_char", b"GET /hello HTTP/1.1\r\nHo(st: x\r\n\r\n", "400", "all"),
    ("bad_header_empty_name", b"GET /hello HTTP/1.1\r\n: x\r\n\r\n", "400", "all"),
    ("bad_header_value_ctl", b"GET /hello HTTP/1.1\r\nX-A: a\x01b\r\n\r\n", "400", "all"),
    ("obs_fold", b"GET /hello HTTP/1.1\r\nX-A: b\r\n  c\r\n\r\n", "400", "all"),
    ("obs_fold_tab", b"GET /hello HTTP/1.1\r\nX-A: b\r\n\tc\r\n\r\n", "400", "all"),
    ("nul_in_method", b"GE\x00T /hello HTTP/1.1\r\n" + H + b"\r\n", "400", "all"),
    ("nul_in_target", b"GET /hel\x00lo HTTP/1.1\r\n" + H + b"\r\n", "400", "all"),
    ("nul_in_header_name", b"GET /hello HTTP/1.1\r\nX-\x00A: b\r\n\r\n", "400", "all"),
    ("nul_in_header_value", b"GET /hello HTTP/1.1\r\nX-A: b\x00c\r\n\r\n", "400", "all"),
    ("bare_cr_in_header_value", b"GET /hello HTTP/1.1\r\nX-A: b\rc\r\n\r\n", "400", "all"),
    ("bare_cr_request_line", b"GET /hello HTTP/1.1\rHost: x\r\n\r\n", "400", "all"),
    ("bare_lf_line_ends", b"GET /hello HTTP/1.1\nHost: x\n\n", "400", "all"),
    ("bare_lf_in_header_value", b"GET /hello HTTP/1.1\r\nX: a\nY: b\r\n\r\n", "400", "all"),
    ("bad_chunk_data_longer", post(b"Transfer-Encoding: chunked\r\n", b"3\r\nabcd\r\n0\r\n\r\n"),
     "400", "all"),
    ("bare_cr_in_target", b"GET /hel\rlo HTTP/1.1\r\n" + H + b"\r\n", "400", "all"),
    ("oversized_header_value", b"GET /hello HTTP/1.1\r\nX-Big: " + b"a" * 17000 + b"\r\n\r\n",
     "431", "all"),
    ("oversized_many_headers",
     b"GET /hello HTTP/1.1\r\n" + b"".join(b"X-H%d: vvvvvvvvvv\r\n" % i for i in range(1000))
     + b"\r\n", "431", "all"),
    ("oversized_target", b"GET /" + b"a" * 17000 + b" HTTP/1.1\r\n" + H + b"\r\n", "431", "all"),
    ("oversized_body_length", post(b"Content-Length: 2000000\r\n"), "413", "all"),
    ("content_length_negative", post(b"Content-Length: -1\r\n", b"abc"), "400", "all"),
    ("content_length_letters", post(b"Content-Length: abc\r\n", b"abc"), "400", "all"),
    ("content_length_overflow", post(b"Content-Length: 99999999999999999999999\r\n"), "400", "all"),
    ("content_length_plus", post(b"Content-Length: +3\r\n", b"abc"), "400", "all"),
    ("smuggle_cl_te", post(b"Content-Length: 6\r\nTransfer-Encoding: chunked\r\n", b"0\r\n\r\nG"),
     "400", "all"),
    ("smuggle_te_cl", post(b"Transfer-Encoding: chunked\r\nContent-Length: 3\r\n",
                           b"8\r\nSMUGGLED\r\n0\r\n\r\n"), "400", "all"),
    ("smuggle_duplicate_cl", post(b"Content-Length: 3\r\nContent-Length: 4\r\n", b"abcd"), "400",
     "all"),
    ("smuggle_cl_list", post(b"Content-Length: 3, 4\r\n", b"abcd"), "400", "all"),
    ("smuggle_te_not_final_chunked", post(b"Transfer-Encoding: chunked, gzip\r\n",
                                          b"3\r\nabc\r\n0\r\n\r\n"), "400", "all"),
    ("smuggle_te_unknown", post(b"Transfer-Encoding: gzip\r\n", b"abc"), "400", "all"),
    ("smuggle_te_space_before_colon", post(b"Transfer-Encoding : chunked\r\n",
                                           b"3\r\nabc\r\n0\r\n\r\n"), "400", "all"),
    ("bad_chunk_size_letters", post(b"Transfer-Encoding: chunked\r\n", b"zz\r\nabc\r\n0\r\n\r\n"),
     "400", "all"),
    ("bad_chunk_size_negative", post(b"Transfer-Encoding: chunked\r\n", b"-1\r\nabc\r\n0\r\n\r\n"),
     "400", "all"),
    ("bad_chunk_size_overflow", post(b"Transfer-Encoding: chunked\r\n",
                                     b"fffffffffffffffffffff\r\nabc\r\n0\r\n\r\n"), "400", "all"),
    ("bad_chunk_missing_crlf", post(b"Transfer-Encoding: chunked\r\n", b"3\r\nabcXX0\r\n\r\n"),
     "400", "all"),
    ("bad_chunk_size_too_big_for_limit", post(b"Transfer-Encoding: chunked\r\n",
                                              b"12000\r\n" + b"a" * 70000), "413", "all"),
    ("truncated_request_line", b"GET /hel", "close", "eof"),
    ("truncated_headers", b"GET /hello HTTP/1.1\r\nHost: x\r\n", "close", "eof"),
    ("truncated_body", post(b"Content-Length: 10\r\n", b"abc"), "close", "eof"),
    ("truncated_chunked_body", post(b"Transfer-Encoding: chunked\r\n", b"5\r\nab"), "close", "eof"),
    ("slowloris_headers", b"GET /hello HTTP/1.1\r\nX-A: 1\r\nX-B: 2\r\nX-C: 3\r\nX-D: 4\r\n"
     b"X-E: 5\r\n\r\n", "408", "slow"),
    ("pipelined_good_behind_bad", b"G@T /hello HTTP/1.1\r\n" + H + b"\r\n" + GOOD, "400", "all"),
    ("pipelined_bad_behind_good", GOOD + b"GET /hello HTTP/1.1\r\nHost x\r\n\r\n" + GOOD,
     "200 400", "all"),
    ("pipelined_three_good", GOOD + GOOD + GOOD, "200 200 200", "all"),
    ("control_http10", b"GET /hello HTTP/1.0\r\n\r\n", "200", "all"),
    ("control_unknown_path", b"GET /nowhere HTTP/1.1\r\n" + H + b"\r\n", "404", "all"),
]

for f in os.listdir(out) if os.path.isdir(out) else []:
    if f.endswith(".http"):
        os.remove(os.path.join(out, f))
os.makedirs(out, exist_ok=True)
with open(os.path.join(out, "expectations.txt"), "w") as e:
    e.write("# name  expected-statuses(space separated, or close)  mode(all|eof|slow)\n")
    e.write("# Generated by tests/http/make-corpus.py; the raw requests are in <name>.http.\n")
    for name, data, expect, mode in cases:
        with open(os.path.join(out, name + ".http"), "wb") as f:
            f.write(data)
        e.write("%s\t%s\t%s\n" % (name, expect.replace(" ", ","), mode))
print("%d cases" % len(cases))
