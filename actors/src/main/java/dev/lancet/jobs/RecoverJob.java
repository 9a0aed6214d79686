package dev.lancet.jobs;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.lancet.engine.eval.Perplexity;
import dev.lancet.engine.io.AtomicFiles;
import dev.lancet.engine.lora.LoraModel;
import dev.lancet.engine.lora.LoraSettings;
import dev.lancet.engine.lora.LoraTrainer;
import dev.lancet.engine.model.Checkpoint;
import dev.lancet.engine.model.CheckpointWriter;
import dev.lancet.engine.model.Loss;
import dev.lancet.engine.model.Transformer;
import dev.lancet.engine.text.Tokenizer;
import dev.lancet.engine.text.TrainingWindows;
import dev.lancet.engine.text.Windows;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import org.nd4j.linalg.api.buffer.DataType;

/**
 * Recovery fine-tuning of a (pruned) model with LoRA, as LLM-Pruner's {@code post_training.py}: adapters on the frozen
 * weights trained on text windows, the validation perplexity measured every {@code evalEvery} steps, the best
 * adapters merged into the weights at the end (pruned zeros stay zero) and the model saved in the input's dtypes.
 * Every evaluation ends with a checkpoint (adapters, optimizer moments, best adapters) a killed run resumes from,
 * ending byte-identical to an uninterrupted run.
 */
public final class RecoverJob {

    public static final String REPORT = "recovery-report.json";
    /** Inside each checkpoint: the current training state, and the adapters of the best evaluation so far. */
    private static final String STATE = "adapters.safetensors";
    private static final String BEST = "best.safetensors";
    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    /**
     * @param batch       windows per forward/backward (a micro-batch)
     * @param accumulate  micro-batches whose gradients one optimizer step sums
     * @param evalWindows windows of the evaluation text measured every {@code evalEvery} steps (0: all); the model
     *                    before training and the final saved model are measured on all of them
     */
    public record Spec(Path model, Path data, int steps, LoraSettings lora, double learningRate, int warmup, int batch,
                       int accumulate, int seqlen, Path eval, int evalSeqlen, int evalWindows, int evalEvery, Path out,
                       boolean resume) {
        public Spec {
            if (steps < 1) {
                throw new IllegalArgumentException("at least 1 training step is needed, got " + steps);
            }
            if (accumulate < 1) {
                throw new IllegalArgumentException("at least 1 micro-batch per step is needed, got " + accumulate);
            }
            if (evalEvery < 1) {
                throw new IllegalArgumentException("the evaluation interval must be at least 1 step, got " + evalEvery);
            }
            if (evalWindows < 0) {
                throw new IllegalArgumentException("the evaluation window limit must be >= 0 (0: all), got " + evalWindows);
            }
            new LoraTrainer.Schedule(learningRate, warmup, steps);
            Windows.requireLength(seqlen);
            Windows.requireLength(evalSeqlen);
            Windows.requireBatchSize(batch);
        }

        /** Hugging Face's warmup for this many steps: 100 (LLM-Pruner's), at most a tenth of the run. */
        public static int defaultWarmup(int steps) {
            return Math.min(100, steps / 10);
        }

        JsonNode fingerprint() {
            ObjectNode job = JSON.createObjectNode();
            job.put("model", model.toAbsolutePath().normalize().toString())
                    .put("data", data.toAbsolutePath().normalize().toString()).put("steps", steps)
                    .put("rank", lora.rank()).put("alpha", lora.alpha()).put("dropout", lora.dropout())
                    .put("seed", lora.seed()).put("targets", lora.targets().stream().map(Enum::name).sorted().toList()
                            .toString())
                    .put("lr", learningRate).put("warmup", warmup).put("batch", batch).put("accumulate", accumulate)
                    .put("seqlen", seqlen).put("eval", eval.toAbsolutePath().normalize().toString())
                    .put("eval_seqlen", evalSeqlen).put("eval_windows", evalWindows).put("eval_every", evalEvery);
            return job;
        }
    }

    public record Result(Path out, double perplexityBefore, double perplexity, int bestStep, double tokensPerSecond,
                         double seconds, JsonNode report) {
    }

    private RecoverJob() {
    }

    public static Result run(Spec spec, JobProgress progress) throws IOException {
        long start = System.nanoTime();
        try (Checkpoint input = Checkpoint.open(spec.model());
             Tokenizer tokenizer = Tokenizer.load(input.tokenizerFile())) {
            input.requirePositions(spec.seqlen());
            input.requirePositions(spec.evalSeqlen());
            LoraModel.check(input.layout(), spec.lora());
            Windows train = Windows.read(tokenizer, spec.data(), spec.seqlen(), 0);
            Windows allEval = Windows.read(tokenizer, spec.eval(), spec.evalSeqlen(), 0);
            Windows periodic = Windows.of(allEval.tokens(), spec.evalSeqlen(), spec.evalWindows());
            RunDirectory run = RunDirectory.open(spec.out(), spec.fingerprint(), spec.resume());
            if (run.finished()) {
                return result(spec.out(), run.recorded("report"), start);
            }
            Transformer model = Transformer.load(input, DataType.FLOAT);
            try (LoraModel lora = LoraModel.attach(model, spec.lora());
                 LoraTrainer trainer = new LoraTrainer(lora, new LoraTrainer.Schedule(spec.learningRate(),
                         spec.warmup(), spec.steps()))) {
                Files.createDirectories(spec.out());
                return new Training(spec, input, lora, trainer, new TrainingWindows(train, spec.lora().seed()),
                        allEval, periodic, run, progress, start).all();
            } finally {
                model.close();
            }
        }
    }

    /** CPU time of the whole process (every thread, native ones included): a loaded machine distorts it less. */
    private static long processCpuNanos() {
        return ((com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean())
                .getProcessCpuTime();
    }

    private static Result result(Path out, JsonNode report, long start) {
        return new Result(out, report.get("perplexity_before").asDouble(), report.get("perplexity").asDouble(),
                report.get("best_step").asInt(), report.get("tokens_per_second").asDouble(),
                (System.nanoTime() - start) / 1e9, report);
    }

    /** One run of the training steps, from the first or from the last checkpoint. */
    private static final class Training {
        private final Spec spec;
        private final Checkpoint input;
        private final LoraModel lora;
        private final LoraTrainer trainer;
        private final TrainingWindows windows;
        private final Windows allEval;
        private final Windows periodic;
        private final RunDirectory run;
        private final JobProgress progress;
        private final long start;
        private final ObjectNode report;

        Training(Spec spec, Checkpoint input, LoraModel lora, LoraTrainer trainer, TrainingWindows windows,
                 Windows allEval, Windows periodic, RunDirectory run, JobProgress progress, long start) {
            this.spec = spec;
            this.input = input;
            this.lora = lora;
            this.trainer = trainer;
            this.windows = windows;
            this.allEval = allEval;
            this.periodic = periodic;
            this.run = run;
            this.progress = progress;
            this.start = start;
            JsonNode recorded = run.recorded("report");
            this.report = recorded == null ? newReport() : (ObjectNode) recorded.deepCopy();
        }

        private ObjectNode newReport() {
            ObjectNode r = JSON.createObjectNode();
            r.set("job", spec.fingerprint());
            r.put("trainable_params", lora.trainableParameters());
            r.put("element_masked", lora.anyElementMasked());
            r.putArray("evaluations");
            r.put("training_seconds", 0.0).put("training_cpu_seconds", 0.0).put("training_tokens", 0L);
            return r;
        }

        Result all() throws IOException {
            Path best = null;
            if (run.shotsDone() > 0) {
                trainer.restore(run.lastCheckpoint().resolve(STATE));
                best = run.lastCheckpoint().resolve(BEST);
            } else {
                report.put("perplexity_before", evaluate(lora.base(), allEval, "before training"));
                report.put("best_step", 0).put("best_perplexity", evaluate(lora.base(), periodic, "step 0"));
            }
            String phase = "training steps";
            progress.report(phase, trainer.stepsDone(), spec.steps());
            double nllSum = 0;
            long nllTokens = 0;
            while (trainer.stepsDone() < spec.steps()) {
                int step = (int) trainer.stepsDone();
                long stepStart = System.nanoTime();
                long cpuStart = processCpuNanos();
                Loss loss = trainer.step(windows.step(step, spec.batch(), spec.accumulate()));
                report.put("training_seconds", report.get("training_seconds").asDouble()
                        + (System.nanoTime() - stepStart) / 1e9);
                report.put("training_cpu_seconds", report.get("training_cpu_seconds").asDouble()
                        + (processCpuNanos() - cpuStart) / 1e9);
                report.put("training_tokens", report.get("training_tokens").asLong()
                        + (long) spec.batch() * spec.accumulate() * spec.seqlen());
                nllSum += loss.nllSum();
                nllTokens += loss.tokens();
                progress.report(phase, step + 1, spec.steps());
                if ((step + 1) % spec.evalEvery() == 0 || step + 1 == spec.steps()) {
                    best = checkpoint(step + 1, Math.exp(nllSum / nllTokens), best);
                    nllSum = 0;
                    nllTokens = 0;
                }
            }
            return finish(best);
        }

        /** Measures the adapters, keeps them if they are the best so far, and writes the checkpoint. */
        private Path checkpoint(int step, double trainPerplexity, Path previousBest) throws IOException {
            double perplexity = evaluate(lora.view(), periodic, "step " + step);
            boolean better = perplexity < report.get("best_perplexity").asDouble();
            ((ArrayNode) report.get("evaluations")).addObject().put("step", step)
                    .put("train_perplexity", trainPerplexity).put("perplexity", perplexity);
            if (better) {
                report.put("best_step", step).put("best_perplexity", perplexity);
            }
            ObjectNode state = JSON.createObjectNode();
            state.set("report", report);
            run.complete(step, dir -> {
                trainer.save(dir.resolve(STATE));
                if (better || previousBest == null) {
                    // while the input itself is the best (step 0) the file is a placeholder that finish() ignores
                    Files.copy(dir.resolve(STATE), dir.resolve(BEST));
                } else {
                    Files.copy(previousBest, dir.resolve(BEST), StandardCopyOption.REPLACE_EXISTING);
                }
            }, state);
            return run.lastCheckpoint().resolve(BEST);
        }

        private double evaluate(Transformer model, Windows windows, String what) {
            String phase = what + " evaluation " + PruneJob.WINDOWS;
            progress.report(phase, 0, windows.count());
            return Perplexity.evaluate(model, windows, spec.batch(), done -> progress.report(phase, done,
                    windows.count())).perplexity();
        }

        /** Merges the best adapters (none when no step beat the input), saves, and measures the saved model. */
        private Result finish(Path best) throws IOException {
            if (report.get("best_step").asInt() > 0) {
                trainer.restore(best);
                lora.merge();
            }
            CheckpointWriter.save(lora.base(), input, spec.out());
            double perplexity;
            try (Checkpoint saved = Checkpoint.open(spec.out())) {
                Transformer merged = Transformer.load(saved, DataType.FLOAT);
                perplexity = evaluate(merged, allEval, "final");
                merged.close();
            }
            report.put("perplexity", perplexity);
            report.put("tokens_per_second", report.get("training_tokens").asLong()
                    / Math.max(report.get("training_seconds").asDouble(), 1e-9));
            report.put("seconds", (System.nanoTime() - start) / 1e9);
            AtomicFiles.write(spec.out().resolve(REPORT), JSON.writeValueAsBytes(report));
            ObjectNode state = JSON.createObjectNode();
            state.set("report", report);
            run.finish(state);
            return result(spec.out(), report, start);
        }
    }
}
