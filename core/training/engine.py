"""The training loop: a generator of plain records, driven by whoever wants them.

Like superqt's GeneratorWorker, :meth:`TrainingRun.records` knows nothing of Qt:
the GUI runs it on a worker thread and turns records into signals; the CLI and
the tests iterate it directly. Losses stay on the device and are read back every
``report_every`` steps (one transfer), so the loop never waits on the GPU each
batch. Stop, pause and early stopping are flags read between batches.
"""

from __future__ import annotations

import contextlib
import json
import math
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import asdict
from pathlib import Path

import torch
from torch.nn import functional as F

from convstudio.core.atomic import atomic_write_text
from convstudio.core.design import Design
from convstudio.core.training.control import RunControl
from convstudio.core.training.distributed import all_reduce_sum, join_process_group, leave_process_group, wrap_for_training
from convstudio.core.training.evaluation import compare_dropout_rules, evaluate, has_dropout
from convstudio.core.training.optimizer_state import PendingStats, collect_stats
from convstudio.core.training.optimizers import penalised_parameters
from convstudio.core.training.compiled import CompiledForward, compile_message
from convstudio.core.training.records import (
    CompileReport, EndReason, EpochRecord, Record, RunEnded, RunStarted, StepRecord,
)
from convstudio.core.training.run_folder import (RunFolder, RunFolderError, load_checkpoint, save_checkpoint,
                                                 unreadable_checkpoint_message)
from convstudio.core.training.settings import TrainingSettings
from convstudio.core.training.setup import DataLoadingStopped, PreparedRun, TrainingSetupError, prepare_run
from convstudio.core.training.transfer import hold_frozen_statistics, set_frozen


def backward_and_step(loss: torch.Tensor, optimizer: torch.optim.Optimizer,
                      scaler: torch.amp.GradScaler | None) -> None:
    """Back-propagate ``loss`` and take the optimizer's step; through ``scaler`` when float16 needs one."""
    if scaler is not None:
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
    else:
        loss.backward()
        optimizer.step()


class TrainingRun:
    """One training run of a design: iterate :meth:`records`, or call :meth:`run`.

    ``run_dir`` (optional) receives the design, settings, metrics and
    checkpoints; it is written before the data loads, so a run killed at any
    moment can be resumed. A folder that holds another run is refused unless
    ``overwrite``. With ``resume=True`` the run continues from the checkpoint in
    ``run_dir`` (from epoch 1 when it has none yet) with the design and
    settings stored there. ``data_progress(done, total)`` hears how the data
    load goes (an image folder's first decoding, in images); a stop while the
    folder decodes cancels the decoding.
    """

    def __init__(self, design: Design | None, settings: TrainingSettings | None, run_dir: str | Path | None = None,
                 *, control: RunControl | None = None, resume: bool = False, data=None, model=None,
                 download: bool = False, overwrite: bool = False,
                 data_progress: Callable[[int, int], None] | None = None):
        self.folder = RunFolder(Path(run_dir)) if run_dir is not None else None
        if resume:
            if self.folder is None:
                raise TrainingSetupError("resuming needs the run folder of the run to continue")
            self.folder.check_resumable()
            design = self.folder.design()
            settings = settings or self.folder.settings()
        if design is None or settings is None:
            raise TrainingSetupError("a run needs a design and training settings")
        self.design = design
        self.settings = settings
        self.control = control or RunControl()
        self.resume = resume
        self._data = data
        self._model = model
        self._download = download  # fetch a missing torchvision dataset before training
        self._overwrite = overwrite
        self._data_progress = data_progress
        self._epochs_done = 0  # finished epochs, for the status an interruption leaves
        self._best_weights: dict[str, torch.Tensor] | None = None
        self._stop_agreed = False  # several processes: every rank has seen a stop request (see _read_back)
        self.prepared: PreparedRun | None = None

    # ----- driving -----------------------------------------------------------------------------

    def run(self, on_record: Callable[[Record], None] | None = None) -> RunEnded:
        """Run to the end, passing every record to ``on_record``; returns the final record."""
        ended = None
        for record in self.records():
            if on_record is not None:
                on_record(record)
            if isinstance(record, RunEnded):
                ended = record
        assert ended is not None
        return ended

    def records(self) -> Iterator[Record]:
        """:meth:`_records`, also written as TensorBoard event files when the settings ask for them."""
        if not self.settings.tensorboard:
            yield from self._records()
            return
        from convstudio.core.experiments.tensorboard import MISSING_MESSAGE, tensorboard_available, with_tensorboard

        if not tensorboard_available():
            raise TrainingSetupError(MISSING_MESSAGE)
        # Asked when the run starts, once the process group is known: only rank 0 writes the folder.
        yield from with_tensorboard(self._records(), lambda: self._writer.path if self._writer is not None else None)

    def _records(self) -> Iterator[Record]:
        """Train, yielding RunStarted, then StepRecords and EpochRecords, then RunEnded.

        Setup problems raise TrainingSetupError before anything is yielded;
        everything that goes wrong later ends the run with a RunEnded saying why.
        A stop while an image folder decodes yields only RunEnded (stopped, no epochs).
        """
        wants_gpu = self.settings.device in ("auto", "cuda") and torch.cuda.is_available()
        self.group = join_process_group("cuda" if wants_gpu else "cpu")
        # Only rank 0 writes the run folder; every rank may read it to resume.
        self._writer = self.folder if self.group.is_main else None
        created = False
        if self._writer is not None and not self.resume:
            # Before the data loads: a kill from here on leaves a folder that --resume can start again.
            self._writer.create(self.design, self.settings, self._overwrite)
            created = True
        try:
            self.prepared = prepare_run(self.design, self.settings, self._data, self._model, self.group,
                                        self._download, data_progress=self._data_progress,
                                        should_stop=lambda: self.control.stop_requested)
        except DataLoadingStopped as stopped:
            yield self._stopped_while_loading(str(stopped))
            if self.group.is_distributed:
                leave_process_group()
            return
        except Exception:
            if created:  # a run that cannot start (bad input): leave no folder behind
                self._writer.discard()
            raise
        except BaseException:  # interrupted while loading: the folder stays, resumable from epoch 1
            if created:
                self._writer.write_status("ended", reason=EndReason.STOPPED.value, epochs_completed=0,
                                          message="interrupted before training began; resume starts at epoch 1")
            raise
        self._forward = wrap_for_training(self.prepared.model, self.group, self.settings.sync_batchnorm)
        if self.settings.compile:
            self._forward = CompiledForward(self._forward)
        start_epoch, step = self._start()
        yield self._started_record(start_epoch)
        try:
            yield from self._train(start_epoch, step)
        except (torch.OutOfMemoryError, MemoryError):
            yield self._end(EndReason.OUT_OF_MEMORY,
                            f"out of memory on {self.prepared.device} with batch size {self.settings.batch_size}: "
                            f"lower the batch size (try {max(1, self.settings.batch_size // 2)}) or use a smaller design")
        except Exception as error:  # a bug or an environment failure: say it, keep the run folder
            if self._writer is not None:
                (self._writer.path / "error.log").write_text(traceback.format_exc(), encoding="utf-8")
            yield self._end(EndReason.ERROR, f"training failed: {type(error).__name__}: {error}")
        except BaseException as interruption:
            # A second Ctrl-C, SystemExit, or the caller closing this generator: the run is over,
            # and run.json must not go on saying "running". The last checkpoint stays as it was.
            if self._writer is not None and self._writer.status().get("status") == "running":
                self._writer.write_status("ended", reason=EndReason.STOPPED.value,
                                          message=f"interrupted ({type(interruption).__name__}); "
                                                  "resume from the last finished epoch",
                                          epochs_completed=self._epochs_done)
            raise
        finally:
            if self.group.is_distributed:
                leave_process_group()

    # ----- setup and resume --------------------------------------------------------------------

    def _stopped_while_loading(self, detail: str) -> RunEnded:
        """The end of a run stopped while its data loaded; run.json says so (a resumed checkpoint's stays)."""
        # A resumed run's checkpoint is untouched: its run.json still says how it ended before.
        checkpointed = self.resume and self.folder.checkpoint_path.is_file()
        message = (f"stopped by {self.control.stop_reason} before training began ({detail}); nothing was trained, "
                   + ("a resume continues from the last checkpoint" if checkpointed else "a resume starts at epoch 1"))
        if self._writer is not None and not checkpointed:
            self._writer.write_status("ended", reason=EndReason.STOPPED.value, message=message, epochs_completed=0)
        return RunEnded(EndReason.STOPPED, message, 0, None, None,
                        run_dir=str(self.folder.path) if self.folder else None)

    def _start(self) -> tuple[int, int]:
        """Create or reopen the run folder; returns (first epoch, steps done)."""
        prepared = self.prepared
        torch.manual_seed(self.settings.seed + 1 + self.group.rank)  # dropout masks
        self._best = (math.inf, -1)
        self._epochs_without_improvement = 0
        self._epochs_done = 0
        if self.resume and self._writer is not None:
            self._writer.remove_partial_writes()  # a kill during a checkpoint write leaves its temporary file
        if not self.resume:
            return 0, 0
        if not self.folder.checkpoint_path.is_file():
            # Killed before its first checkpoint: start again from epoch 1 (the model is freshly initialised).
            if self._writer is not None:
                self._writer.restart()
            return 0, 0
        state = load_checkpoint(self.folder.checkpoint_path, prepared.device)
        try:
            prepared.model.load_state_dict(state["model"])
            prepared.optimizer.load_state_dict(state["optimizer"])
            prepared.scheduler.load_state_dict(state["scheduler"])
        except (KeyError, TypeError, ValueError, RuntimeError):
            # a torch file, but not this run's checkpoint (other keys, another design's tensors):
            # torch's text lists every tensor, so name the file and the way out instead
            raise RunFolderError(unreadable_checkpoint_message(self.folder.checkpoint_path)) from None
        torch.set_rng_state(state["rng_cpu"].cpu())
        if "rng_cuda" in state and prepared.device.type == "cuda":
            torch.cuda.set_rng_state(state["rng_cuda"].cpu(), prepared.device)
        self._best = (state["best_val_loss"], state["best_epoch"])
        self._epochs_without_improvement = state["epochs_without_improvement"]
        epoch, step = state["epoch"], state["step"]
        self._epochs_done = epoch
        self._best_weights = self._stored_best_weights(state)
        if state.get("world_size", 1) != self.group.world_size:
            # Another process count means other batches per epoch: count steps afresh from this epoch.
            step = epoch * len(prepared.train_batches)
        if self._writer is not None:
            self._writer.truncate_lines("metrics.jsonl", lambda row: row["epoch"] <= epoch)
            self._writer.truncate_lines("steps.jsonl", lambda row: row["epoch"] <= epoch)
            self._writer.write_status("running")
        return epoch, step

    def _stored_best_weights(self, state: dict) -> dict[str, torch.Tensor] | None:
        """The best epoch's weights as the folder keeps them, for early stopping to restore after a resume.

        The checkpoint's own weights when the last finished epoch was the best;
        else best.pt when it holds that epoch (a kill between writing best.pt
        and the checkpoint can leave a later epoch there: then None).
        """
        best_epoch = state["best_epoch"]
        if best_epoch < 0:
            return None
        if best_epoch + 1 == state["epoch"]:
            return {key: value.clone() for key, value in state["model"].items()}
        try:
            best = load_checkpoint(self.folder.best_path, self.prepared.device)
        except RunFolderError:
            return None
        return best["model"] if best.get("epoch") == best_epoch + 1 else None

    def _started_record(self, start_epoch: int) -> RunStarted:
        prepared = self.prepared
        data = prepared.data
        return RunStarted(
            run_dir=str(self.folder.path) if self.folder else None, device=str(prepared.device),
            device_reason=prepared.device_reason, dataset=data.name, train_size=len(data.train_labels),
            val_size=len(data.val_labels), test_size=len(data.test_labels),
            batches_per_epoch=len(prepared.train_batches), epochs=self.settings.epochs, start_epoch=start_epoch,
            total_params=sum(p.numel() for p in prepared.model.parameters()), classes=tuple(data.classes),
            transfer_summary=prepared.transfer.summary() if prepared.transfer else None,
            frozen_layers=tuple(name for name in prepared.layer_names if name in prepared.frozen),
        )

    def _autocast(self):
        precision = self.prepared.precision  # the setting with auto decided (core.training.fast_defaults)
        device_type = self.prepared.device.type
        # CUDA autocasts to bf16 or fp16; a CPU to bf16 only (its fp16 kernels are slow); MPS not at all.
        if precision == "fp32" or device_type not in ("cuda", "cpu") or (device_type == "cpu" and precision != "bf16"):
            return contextlib.nullcontext
        dtype = torch.bfloat16 if precision == "bf16" else torch.float16
        return lambda: torch.autocast(device_type, dtype=dtype)

    def _compile_report(self, forward: CompiledForward) -> Iterator[CompileReport]:
        """Record compile time in the run folder (compile.json); a CompileReport for the first step and a fallback."""
        report = CompileReport(forward.compiled, forward.compile_seconds, compile_message(forward))
        if self._writer is not None:
            atomic_write_text(self._writer.path / "compile.json", json.dumps(asdict(report), indent=1))
        if forward.compiled_steps == 1 or not forward.compiled:
            yield report

    # ----- the loop ----------------------------------------------------------------------------

    def _train(self, start_epoch: int, step: int) -> Iterator[Record]:
        prepared = self.prepared
        settings = self.settings
        model, optimizer, scheduler = prepared.model, prepared.optimizer, prepared.scheduler
        autocast = self._autocast()
        fp16_on_cuda = prepared.precision == "fp16" and prepared.device.type == "cuda"
        scaler = torch.amp.GradScaler("cuda") if fp16_on_cuda else None
        is_lbfgs = settings.optimizer == "lbfgs"
        penalised = penalised_parameters(model)
        batches_per_epoch = len(prepared.train_batches)
        rank, world = self.group.rank, self.group.world_size
        forward = self._forward
        epoch = start_epoch
        for epoch in range(start_epoch, settings.epochs):
            if prepared.frozen and settings.unfreeze_at_epoch is not None and epoch + 1 >= settings.unfreeze_at_epoch:
                prepared.frozen = set()
                set_frozen(model, prepared.layer_names, prepared.frozen)
                prepared.refresh_parameter_index()
            model.train()
            hold_frozen_statistics(model, prepared.layer_names, prepared.frozen)
            epoch_started = time.perf_counter()
            pending_losses: list[torch.Tensor] = []
            pending_correct: list[torch.Tensor] = []
            pending_sizes: list[int] = []
            pending_lrs: list[float] = []
            pending_stats: dict[int, PendingStats] = {}
            epoch_loss_sum = 0.0
            epoch_correct = 0
            epoch_images = 0
            flush_started = time.perf_counter()
            for batch_index, (images, labels) in enumerate(prepared.train_batches.epoch(epoch)):
                if world > 1:  # this process's share of the global batch (DistributedSampler layout)
                    images, labels = images[rank::world], labels[rank::world]
                # Time spent paused is not training time: keep it out of images per second.
                flush_started += self.control.wait_while_paused()
                if self._stop_now():
                    yield from self._flush(step, epoch, batch_index, pending_losses, pending_correct,
                                           pending_sizes, pending_lrs, pending_stats, flush_started, batches_per_epoch)
                    kept = (f"the checkpoint holds epoch {epoch}" if epoch else
                            "no epoch had finished, so a resume starts at epoch 1")
                    yield self._end(EndReason.STOPPED, f"stopped by {self.control.stop_reason} in epoch {epoch + 1}, "
                                    f"batch {batch_index + 1} of {batches_per_epoch}; {kept}", epochs_completed=epoch)
                    return
                collecting = (step + 1) % settings.state_every == 0
                before = [p.detach().clone() for p in prepared.parameter_index.params] if collecting else None
                pending_lrs.append(optimizer.param_groups[0]["lr"])
                if is_lbfgs:
                    loss, logits = self._lbfgs_step(images, labels, penalised)
                else:
                    optimizer.zero_grad(set_to_none=True)
                    with autocast():
                        logits = forward(images)
                        loss = F.cross_entropy(logits.float(), labels)
                    backward_and_step(loss, optimizer, scaler)
                scheduler.step()
                if isinstance(forward, CompiledForward):
                    compiling = forward.step_done(prepared.device)
                    if compiling:  # compile time is not training time: keep it out of the speed
                        flush_started += compiling
                        epoch_started += compiling
                        yield from self._compile_report(forward)
                step += 1
                if collecting:
                    pending_stats[step] = collect_stats(optimizer, prepared.parameter_index, before)
                pending_losses.append(loss.detach())
                pending_correct.append((logits.detach().argmax(1) == labels).sum())
                pending_sizes.append(labels.numel())
                if len(pending_losses) >= settings.report_every or batch_index == batches_per_epoch - 1:
                    losses, correct, pending_sizes = self._read_back(pending_losses, pending_correct, pending_sizes)
                    epoch_loss_sum += sum(l * n for l, n in zip(losses, pending_sizes))
                    epoch_correct += sum(correct)
                    epoch_images += sum(pending_sizes)
                    yield from self._emit_steps(step, epoch, batch_index, losses, correct, pending_sizes,
                                                pending_lrs, pending_stats, flush_started, batches_per_epoch)
                    pending_losses, pending_correct, pending_sizes, pending_lrs = [], [], [], []
                    pending_stats = {}
                    flush_started = time.perf_counter()
                    bad = next((l for l in losses if not math.isfinite(l)), None)
                    if bad is not None:
                        yield self._end(
                            EndReason.NON_FINITE_LOSS,
                            f"the loss became {bad} in epoch {epoch + 1} near step {step}: the learning rate "
                            f"({settings.learning_rate:g}) is probably too high; try {settings.learning_rate / 10:g}, "
                            "or add batch normalisation", epochs_completed=epoch)
                        return
            record = self._finish_epoch(epoch, step, epoch_loss_sum, epoch_correct, epoch_images, epoch_started)
            self._epochs_done = epoch + 1
            yield record
            if settings.early_stopping and self._epochs_without_improvement >= settings.patience:
                restored = (f"restored the weights of epoch {self._best[1] + 1}" if self._best_weights is not None
                            else "the best epoch's weights were not kept, so these are the last epoch's")
                yield self._end(EndReason.EARLY_STOPPING,
                                f"validation loss did not improve for {settings.patience} epochs; {restored}",
                                epochs_completed=epoch + 1)
                return
        yield self._end(EndReason.FINISHED, f"finished {settings.epochs} epochs", epochs_completed=settings.epochs)

    def _lbfgs_step(self, images, labels, penalised):
        """One quasi-Newton step; the closure may be evaluated several times by the line search."""
        optimizer = self.prepared.optimizer
        lam = self.settings.l2_penalty
        first: dict[str, torch.Tensor] = {}

        def closure():
            optimizer.zero_grad(set_to_none=True)
            logits = self._forward(images)
            loss = F.cross_entropy(logits, labels)
            if "logits" not in first:
                first["logits"], first["loss"] = logits.detach(), loss.detach()
            total = loss + lam * sum((p * p).sum() for p in penalised) if lam > 0 else loss
            total.backward()
            return total

        optimizer.step(closure)
        return first["loss"], first["logits"]

    def _emit_steps(self, step, epoch, batch_index, losses, correct, sizes, lrs, stats, started, per_epoch):
        """StepRecords for the steps just read back from the device."""
        elapsed = max(time.perf_counter() - started, 1e-9)
        speed = sum(sizes) / elapsed
        first_step = step - len(losses) + 1
        rows = []
        for offset, (loss, hits, size, lr) in enumerate(zip(losses, correct, sizes, lrs)):
            this_step = first_step + offset
            layer_stats = optimizer_state = None
            if this_step in stats:
                layer_stats, optimizer_state = stats[this_step].materialise()
            record = StepRecord(this_step, epoch, batch_index - len(losses) + 1 + offset, per_epoch, loss,
                                hits / size, lr, speed, layer_stats, optimizer_state)
            rows.append({"step": this_step, "epoch": epoch + 1, "loss": loss, "accuracy": hits / size,
                         "learning_rate": lr})
            yield record
        if self._writer is not None:
            self._writer.append_lines("steps.jsonl", rows)

    def _stop_now(self) -> bool:
        """Whether to stop before this batch. Several processes stop at the same batch: once all have seen it."""
        return self._stop_agreed if self.group.world_size > 1 else self.control.stop_requested

    def _read_back(self, losses, correct, sizes):
        """Per-step losses, correct counts and batch sizes over all processes, in one transfer.

        The same transfer tells every process whether any was asked to stop
        (SIGTERM reaches torchrun's processes at different batches).
        """
        sizes_tensor = torch.tensor(sizes, dtype=torch.float64, device=losses[0].device)
        stop_flags = torch.full_like(sizes_tensor, float(self.control.stop_requested))
        table = torch.stack([torch.stack(losses).double() * sizes_tensor, torch.stack(correct).double(), sizes_tensor,
                             stop_flags])
        table = all_reduce_sum(table, self.group).tolist()
        self._stop_agreed = self._stop_agreed or table[3][0] > 0
        totals = [int(n) for n in table[2]]
        return [l / n for l, n in zip(table[0], totals)], [int(c) for c in table[1]], totals

    def _flush(self, step, epoch, batch_index, losses, correct, sizes, lrs, stats, started, per_epoch):
        if not losses:
            return
        losses, correct, sizes = self._read_back(losses, correct, sizes)
        yield from self._emit_steps(step, epoch, batch_index - 1, losses, correct, sizes, lrs, stats,
                                    started, per_epoch)

    def _finish_epoch(self, epoch, step, loss_sum, correct, images, started) -> EpochRecord:
        """Validate, keep the best weights, write metrics and the checkpoint."""
        prepared = self.prepared
        validation = self._evaluate(prepared.val_batches)
        best_loss, best_epoch = self._best
        if validation.loss < best_loss:
            self._best = (validation.loss, epoch)
            self._epochs_without_improvement = 0
            self._best_weights = {k: v.detach().clone() for k, v in prepared.model.state_dict().items()}
            if self._writer is not None:
                save_checkpoint(self._writer.best_path, {"model": self._best_weights, "epoch": epoch + 1})
        else:
            self._epochs_without_improvement += 1
        seconds = time.perf_counter() - started
        record = EpochRecord(epoch, loss_sum / max(images, 1), correct / max(images, 1), validation.loss,
                             validation.accuracy, prepared.optimizer.param_groups[0]["lr"], seconds,
                             self._best[1], images / max(seconds, 1e-9))
        if self._writer is not None:
            self._writer.append_lines("metrics.jsonl", [record.to_json_dict()])
            state = {
                "model": prepared.model.state_dict(), "optimizer": prepared.optimizer.state_dict(),
                "scheduler": prepared.scheduler.state_dict(), "epoch": epoch + 1, "step": step,
                "best_val_loss": self._best[0], "best_epoch": self._best[1],
                "epochs_without_improvement": self._epochs_without_improvement,
                "rng_cpu": torch.get_rng_state(), "world_size": self.group.world_size,
            }
            if prepared.device.type == "cuda":
                state["rng_cuda"] = torch.cuda.get_rng_state(prepared.device)
            save_checkpoint(self._writer.checkpoint_path, state)
        return record

    def _evaluate(self, batches):
        autocast = self._autocast() if self.prepared.precision != "fp32" else None
        return evaluate(self.prepared.model, batches.epoch(0), self.prepared.data.num_classes, autocast,
                        shard=(self.group.rank, self.group.world_size),
                        reduce=lambda totals: all_reduce_sum(totals, self.group))

    def _end(self, reason: EndReason, message: str, epochs_completed: int = 0) -> RunEnded:
        """The final record: test metrics and the dropout comparison when weights are usable."""
        prepared = self.prepared
        best_loss, best_epoch = self._best
        if reason == EndReason.EARLY_STOPPING and self._best_weights is not None:
            prepared.model.load_state_dict(self._best_weights)
        test = dropout = None
        has_test_images = len(prepared.data.test_labels) > 0
        if (reason in (EndReason.FINISHED, EndReason.EARLY_STOPPING, EndReason.STOPPED) and epochs_completed > 0
                and has_test_images):
            test = self._evaluate(prepared.test_batches)
            if has_dropout(prepared.model) and self.settings.mc_samples > 1 and self.group.is_main:
                dropout = compare_dropout_rules(prepared.model, prepared.test_batches.epoch(0),
                                                self.settings.mc_samples)
        ended = RunEnded(
            reason, message, epochs_completed, None if best_epoch < 0 else best_epoch,
            None if best_epoch < 0 else best_loss,
            test_loss=test.loss if test else None, test_accuracy=test.accuracy if test else None,
            confusion=test.confusion if test else None, dropout=dropout,
            run_dir=str(self.folder.path) if self.folder else None,
        )
        if self._writer is not None:
            details = {"reason": reason.value, "message": message, "epochs_completed": epochs_completed,
                       "test_accuracy": ended.test_accuracy, "test_loss": ended.test_loss}
            if dropout is not None:
                details["dropout"] = dropout.__dict__
            self._writer.write_status("ended", **details)
        return ended
