"""Take screenshots of Hearth's panels with the real engine, for the README and for review.

    xvfb-run -s "-screen 0 1280x800x24" .venv/bin/python scripts/screenshot.py OUT_DIR [--convert]
        [--chat PROMPT] [--panel ID] [--train DATASET [--steps N] [--sample PROMPT] [--method M]]

Opens the main window on the data root in HEARTH_HOME (the bundled models are prepared on
first run), visits each panel once the engine is ready, and saves OUT_DIR/<panel>.png. With
--convert it first starts converting the bundled GGUF to torch, so the shots show a job in
progress. With --chat it first sends PROMPT in the Chat panel (at most 120 tokens) and saves
OUT_DIR/chat-streaming.png while the reply streams and OUT_DIR/chat-reply.png once it ended.
With --panel it shoots that panel only. With --train it fills the Training panel's New run form
(the bundled model, the dataset named DATASET, the quick preset, N steps, default 20, seq_len
128 or --seq-len, PROMPT as the sample prompt; --objective dpo or orpo for a preference dataset, at learning rate 5e-5), saves OUT_DIR/training-new.png, starts the run and saves
OUT_DIR/training-live.png while the curves grow and OUT_DIR/training-done.png once it ended;
--method picks the method (e.g. prompt, at its own learning rate). With --train and --chat the
finished run's *Chat with this model* opens Chat, where PROMPT is sent as above.
"""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from desktop.engine_client import EngineClient
from desktop.main_window import MainWindow


def main() -> int:
    argv = sys.argv[1:]
    prompt = argv.pop(argv.index("--chat") + 1) if "--chat" in argv[:-1] else None
    only = argv.pop(argv.index("--panel") + 1) if "--panel" in argv[:-1] else None
    dataset = argv.pop(argv.index("--train") + 1) if "--train" in argv[:-1] else None
    steps = int(argv.pop(argv.index("--steps") + 1)) if "--steps" in argv[:-1] else 20
    sample = argv.pop(argv.index("--sample") + 1) if "--sample" in argv[:-1] else None
    objective = argv.pop(argv.index("--objective") + 1) if "--objective" in argv[:-1] else None
    seq_len = int(argv.pop(argv.index("--seq-len") + 1)) if "--seq-len" in argv[:-1] else 128
    method = argv.pop(argv.index("--method") + 1) if "--method" in argv[:-1] else None
    args = [a for a in argv if not a.startswith("--")]
    out = Path(args[0] if args else "shots")
    out.mkdir(parents=True, exist_ok=True)
    app = QApplication(sys.argv[:1])
    client = EngineClient(app)
    window = MainWindow(client)
    window.resize(1180, 680)
    window.show()
    ids = [only] if only else window.panel_ids()

    def shoot(i: int) -> None:
        if i >= len(ids):
            app.quit()
            return
        window.show_panel(ids[i])
        QTimer.singleShot(
            1500, lambda: (window.grab().save(str(out / f"{ids[i]}.png")), shoot(i + 1))
        )

    def start_conversion(result: dict) -> None:
        gguf = next((m for m in result["models"] if m["format"] == "gguf"), None)
        if gguf is not None:
            client.call("models.convert", {"id": gguf["id"]})

    def chat_then_shoot() -> None:
        window.show_panel("chat")
        chat = window.panels["chat"]
        chat.settings.spins["max_tokens"].setValue(120)
        chat.composer.editor.setPlainText(prompt)
        streaming_shot = QTimer(window)

        def grab_streaming() -> None:
            if chat.stream is not None and len(chat.stream.text) > 60:
                streaming_shot.stop()
                window.grab().save(str(out / "chat-streaming.png"))

        streaming_shot.timeout.connect(grab_streaming)
        streaming_shot.start(100)
        chat.sig_reply_ended.connect(
            lambda _r: QTimer.singleShot(
                1500,
                lambda: (
                    streaming_shot.stop(),
                    window.grab().save(str(out / "chat-reply.png")),
                    shoot(0),
                ),
            )
        )
        chat.composer.send_button.click()

    def train_then_shoot() -> None:
        window.show_panel("training")
        training = window.panels["training"]
        new = training.new_run
        training.tabs.setCurrentIndex(1)
        row = next(i for i in range(new.dataset_combo.count())
                   if new.dataset_combo.itemText(i).startswith(f"{dataset} ("))  # fmt: skip
        new.dataset_combo.setCurrentIndex(row)
        new.preset_combo.setCurrentIndex(new.preset_combo.findData("quick"))
        new.form.set_values({"max_steps": steps, "seq_len": seq_len, "eval_every": 5, "save_every": 5,
                             "sample_prompts": [sample] if sample else []})  # fmt: skip
        if method:  # the method's own values (prompt tuning's rate) come with it
            new.method_combo.setCurrentIndex(new.method_combo.findData(method))
        if objective:  # at a learning rate that suits preference tuning
            new.objective_combo.setCurrentIndex(new.objective_combo.findData(objective))
            new.form.set_values({"learning_rate": 5e-5})
        name = f"{dataset} (GUI)"
        new.name_edit.setText(name)
        watch = QTimer(window)

        def live() -> None:
            run = training.run_view.run or {}
            points = len(training.run_view.canvas.points["loss"][0])
            if run.get("name") == name and points >= steps // 2 and not live.shot:
                live.shot = True
                window.grab().save(str(out / "training-live.png"))
            if run.get("name") == name and run.get("state") in (
                "succeeded",
                "failed",
            ):
                watch.stop()
                then = chat_with_run if prompt else lambda: shoot(0)
                QTimer.singleShot(2000, lambda: (
                    window.grab().save(str(out / "training-done.png")), then()))  # fmt: skip

        def chat_with_run() -> None:
            training.run_view.buttons["chat"].click()
            QTimer.singleShot(3000, chat_then_shoot)

        live.shot = False
        watch.timeout.connect(live)

        def start() -> None:
            window.grab().save(str(out / "training-new.png"))
            new.start_button.click()
            watch.start(500)

        QTimer.singleShot(3000, start)

    def on_ready(_reply: dict) -> None:
        if "--convert" in sys.argv:  # show a job in progress in the status bar and Activity
            QTimer.singleShot(3000, lambda: client.call("models.list").on_success(start_conversion))
        # give the engine time to register the bundled models on a first run
        first = train_then_shoot if dataset else chat_then_shoot if prompt else lambda: shoot(0)
        QTimer.singleShot(12000 if "--convert" in sys.argv else 4000, first)

    client.sig_ready.connect(on_ready)
    client.start()
    QTimer.singleShot(900_000 if dataset else 240_000 if prompt else 120_000, app.quit)
    app.exec()
    window.settings.clear()
    client.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
