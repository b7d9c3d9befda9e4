"""Emacs 28 + eglot (batch mode) against the real qinet-lsp: connect, completion-at-point,
Continue Text applied through workspace/applyEdit."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

EMACS = shutil.which("emacs")
pytestmark = pytest.mark.skipif(EMACS is None,
                                reason="emacs is not installed (apt-get install emacs-nox elpa-eglot)")

SCRIPT = r"""
(require 'eglot)
(setq eglot-confirm-server-initiated-edits nil)
(setq eglot-sync-connect 120)
(setq eglot-connect-timeout 120)
(setq-default eglot-workspace-configuration
              '(:qinet (:checkpoint %(ckpt)s :sampling (:temperature 0)
                        :continue (:maxChars 40 :stopAt "none"))))
(defun qinet-wait (pred secs)
  (let ((deadline (+ (float-time) secs)))
    (while (and (not (funcall pred)) (< (float-time) deadline))
      (accept-process-output nil 0.1))
    (funcall pred)))
(find-file %(doc)s)
(text-mode)
(goto-char (point-max))
(let* ((server (eglot '(text-mode) (cons 'transient default-directory) 'eglot-lsp-server
                      '(%(python)s "-m" "qinet_lsp") "plaintext"))
       (result (list)))
  (qinet-wait (lambda ()
                (equal "ready" (plist-get (jsonrpc-request server :workspace/executeCommand
                                                           '(:command "qinet.status"))
                                          :state)))
              60)
  (let* ((capf (eglot-completion-at-point))
         (start (nth 0 capf)) (end (nth 1 capf)) (table (nth 2 capf))
         (words (all-completions (buffer-substring-no-properties start end) table)))
    (setq result (plist-put result :prefix (buffer-substring-no-properties start end)))
    (setq result (plist-put result :words (vconcat words))))
  (let ((before (buffer-string)))
    (eglot-execute-command server "qinet.continueText"
                           (vector (list :textDocument (eglot--TextDocumentIdentifier)
                                         :position (eglot--pos-to-lsp-position))))
    (qinet-wait (lambda () (not (equal before (buffer-string)))) 30)
    (setq result (plist-put result :before before))
    (setq result (plist-put result :after (buffer-string))))
  (princ (json-encode result))
  (set-buffer-modified-p nil)
  (kill-emacs 0))
"""


def test_eglot_connects_completes_and_continues_text(tmp_path: Path, trained_checkpoint: Path) -> None:
    doc = tmp_path / "story.txt"
    doc.write_text("The cat sat on the m", encoding="utf-8")
    script = tmp_path / "test.el"
    script.write_text(SCRIPT % {"ckpt": json.dumps(str(trained_checkpoint)), "doc": json.dumps(str(doc)),
                                "python": json.dumps(sys.executable)}, encoding="utf-8")
    res = subprocess.run([EMACS, "--batch", "-q", "-l", str(script)], capture_output=True, text=True,
                         timeout=180, env={**os.environ, "HOME": str(tmp_path)})
    assert res.returncode == 0, res.stderr[:3000]
    result = json.loads(res.stdout.strip().splitlines()[-1])
    assert result["prefix"] == "m"
    assert "mat" in result["words"]
    assert result["before"] == "The cat sat on the m"
    assert result["after"].startswith(result["before"]) and len(result["after"]) > len(result["before"])
