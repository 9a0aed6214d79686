package dev.lancet.jobs;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.typesafe.config.ConfigFactory;
import dev.lancet.actors.calibration.CalibrationCoordinator;
import dev.lancet.actors.prune.PruneCoordinator;
import dev.lancet.engine.curvature.FactorFile;
import dev.lancet.engine.curvature.KfacState;
import dev.lancet.engine.io.AtomicFiles;
import dev.lancet.engine.curvature.Precision;
import dev.lancet.engine.eval.Perplexity;
import dev.lancet.engine.io.TensorInfo;
import dev.lancet.engine.llmpruner.Strategy;
import dev.lancet.engine.llmpruner.TaylorGradients;
import dev.lancet.engine.llmpruner.TaylorSelection;
import dev.lancet.engine.llmpruner.TaylorSettings;
import dev.lancet.engine.lora.LoraModel;
import dev.lancet.engine.lora.LoraSettings;
import dev.lancet.engine.lora.LoraTrainer;
import dev.lancet.engine.model.Checkpoint;
import dev.lancet.engine.model.CheckpointWriter;
import dev.lancet.engine.model.DenseExport;
import dev.lancet.engine.model.HiddenChannelEdit;
import dev.lancet.engine.model.Loss;
import dev.lancet.engine.model.StructuralEdit;
import dev.lancet.engine.model.Transformer;
import dev.lancet.engine.prune.PruneSettings;
import dev.lancet.engine.prune.Schedule;
import dev.lancet.engine.prune.ShotUnits;
import dev.lancet.engine.prune.Structure;
import dev.lancet.engine.prune.UnitReport;
import dev.lancet.engine.text.CalibrationSource;
import dev.lancet.engine.text.Tokenizer;
import dev.lancet.engine.text.Windows;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.function.IntPredicate;
import java.util.stream.IntStream;
import java.util.stream.LongStream;
import org.bytedeco.javacpp.Pointer;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.impl.reduce.longer.CountNonZero;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Multi-shot pruning (LLM Surgeon and its baselines): each shot refreshes the KFAC curvature of the current model
 * through the calibration actors, sets one threshold for the whole model through the prune coordinator and its
 * workers, removes and corrects, evaluates, and ends with a checkpoint a killed run resumes from. LLM-Pruner
 * ({@link TaylorSettings}) runs the same shots with calibration gradients and its own group selection instead. The output
 * directory then holds the pruned model (Hugging Face format, its layout in config.json), {@code pruning-report.json}
 * and {@code pruning.png}.
 */
public final class PruneJob {

    public static final String REPORT = "pruning-report.json";

    /** How the pruned model is saved: at its shrunk shapes, or at the input's shapes with zeros (stock HF). */
    public enum Export { SHRUNK, DENSE }

    public static final String PLOT = "pruning.png";
    /** Evaluation progress is counted in windows. */
    public static final String WINDOWS = "windows";
    /** A shot whose worker failed is retried from its start this many times before the job fails. */
    private static final int SHOT_ATTEMPTS = 3;
    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    /**
     * @param settings    the LLM Surgeon or baseline method; null when {@code taylor} is set
     * @param taylor      LLM-Pruner's importance and selection; null for the other methods
     * @param target      fraction of the decoder linear layers' weights (biases included) removed after the last shot;
     *                    for LLM-Pruner, of all the model's parameters
     * @param evalWindows windows of the evaluation file measured after each shot (0: all); the dense and the final
     *                    model are always measured on all of them
     * @param workers     prune workers (the result does not depend on it)
     * @param stored      a daemon's calibration data for the model (a re-prune's): its curvature replaces the first
     *                    shot's calibration and its windows replace {@code calibration}, {@code samples},
     *                    {@code seqlen}, {@code sampling} and {@code seed} for every later shot; null: none
     * @param loraBetweenShots LoRA steps on the calibration windows after each shot, merged before the next; null: none
     */
    public record Spec(Path model, PruneSettings settings, TaylorSettings taylor, double target, int shots,
                       Schedule schedule, List<Path> calibration, int samples, int seqlen,
                       CalibrationSource.Sampling sampling, long seed, Path eval, int evalSeqlen, int evalWindows,
                       int batch, Path out, boolean resume, int workers, Export export, StoredCalibration stored,
                       LoraBetweenShots loraBetweenShots) implements JobSpec {

        public Spec {
            calibration = List.copyOf(calibration);
            if ((settings == null) == (taylor == null)) {
                throw new IllegalArgumentException("a prune job needs either a method's settings or LLM-Pruner's");
            }
            requireShared(target, samples, seqlen, evalSeqlen, batch);
            if (shots < 1) {
                throw new IllegalArgumentException("at least 1 shot is needed, got " + shots);
            }
            if (taylor != null && taylor.strategy() == Strategy.CHANNELS && export == Export.DENSE) {
                throw new IllegalArgumentException("--export dense cannot restore removed hidden channels: a norm over "
                        + "the zero-padded stream averages over more features; use --export shrunk");
            }
            if (evalWindows < 0) {
                throw new IllegalArgumentException("the evaluation window limit must be >= 0 (0: all), got " + evalWindows);
            }
            if (workers < 1) {
                throw new IllegalArgumentException("at least 1 prune worker is needed, got " + workers);
            }
        }

        /** The same job on a daemon's stored calibration data. */
        public Spec withStored(StoredCalibration stored) {
            return new Spec(model, settings, taylor, target, shots, schedule, calibration, samples, seqlen, sampling, seed,
                    eval, evalSeqlen, evalWindows, batch, out, resume, workers, export, stored, loraBetweenShots);
        }

        @Override
        public Spec withOut(Path out, boolean resume) {
            return new Spec(model, settings, taylor, target, shots, schedule, calibration, samples, seqlen, sampling, seed,
                    eval, evalSeqlen, evalWindows, batch, out, resume, workers, export, stored, loraBetweenShots);
        }

        /** LLM-Pruner removes coupled groups. */
        public Structure structure() {
            return taylor != null ? Structure.GROUPS : settings.structure();
        }

        /** What a resumed run must share with the run it continues: everything that shapes the result. */
        JsonNode fingerprint() {
            ObjectNode job = JSON.createObjectNode();
            job.put("model", model.toAbsolutePath().normalize().toString());
            if (taylor != null) {
                job.put("method", "LLM_PRUNER").put("structure", Structure.GROUPS.name())
                        .put("strategy", taylor.strategy().name())
                        .put("importance", taylor.importance().name()).put("aggregation", taylor.aggregation().name())
                        .put("layers", taylor.layers() == null ? "default" : taylor.layers().toString());
            } else {
                job.put("method", settings.method().name()).put("structure", settings.structure().name())
                        .put("damp_g", settings.damping().g()).put("damp_a", settings.damping().a())
                        .put("max_correlate", settings.maxCorrelate());
            }
            job.put("target", target).put("shots", shots).put("schedule", schedule.name());
            putData(job, calibration, samples, seqlen, sampling, seed, eval, evalSeqlen, evalWindows, batch);
            job.put("export", export.name());
            if (stored != null) {
                ObjectNode pinned = job.putObject("stored_calibration");
                pinned.put("factors", stored.factors().toAbsolutePath().normalize().toString());
                ArrayNode batches = pinned.putArray("batches");
                for (StoredCalibration.Batch b : stored.batches()) {
                    ObjectNode windows = batches.addObject();
                    b.files().forEach(f -> windows.withArray("calibration").add(f.toAbsolutePath().normalize().toString()));
                    windows.put("samples", b.samples()).put("seqlen", b.seqlen()).put("sampling", b.sampling().name())
                            .put("seed", b.seed());
                }
            }
            if (loraBetweenShots != null) {
                job.put("lora_between_shots", loraBetweenShots.steps()).put("lora_lr", loraBetweenShots.learningRate());
            }
            return job;
        }
    }

    /** The checks every pruning job's spec shares (this one's and {@link SliceJob}'s). */
    static void requireShared(double target, int samples, int seqlen, int evalSeqlen, int batch) {
        if (!(target > 0 && target < 1)) {
            throw new IllegalArgumentException("the target must be a fraction in (0, 1), got " + target);
        }
        if (samples < 1) {
            throw new IllegalArgumentException("at least 1 calibration window is needed, got " + samples);
        }
        Windows.requireLength(seqlen);
        Windows.requireLength(evalSeqlen);
        Windows.requireBatchSize(batch);
    }

    /** The calibration and evaluation part of a job's fingerprint. */
    static void putData(ObjectNode job, List<Path> calibration, int samples, int seqlen,
                        CalibrationSource.Sampling sampling, long seed, Path eval, int evalSeqlen, int evalWindows,
                        int batch) {
        ArrayNode files = job.putArray("calibration");
        calibration.forEach(f -> files.add(f.toAbsolutePath().normalize().toString()));
        job.put("samples", samples).put("seqlen", seqlen).put("sampling", sampling.name()).put("seed", seed);
        job.put("eval", eval.toAbsolutePath().normalize().toString()).put("eval_seqlen", evalSeqlen)
                .put("eval_windows", evalWindows).put("batch", batch);
    }

    /**
     * LoRA between shots (LLM Surgeon's interleaved first-order updates, which its reference code ships broken):
     * {@code steps} AdamW steps of fresh rank-8 adapters on the calibration windows after each shot (the last one
     * included, as the reference), decaying linearly from {@code learningRate} to 0, merged before the next curvature.
     */
    public record LoraBetweenShots(int steps, double learningRate) {
        public LoraBetweenShots {
            new LoraTrainer.Schedule(learningRate, 0, steps);
        }
    }

    /**
     * @param paramsBefore every parameter of the input model
     * @param paramsAfter  every parameter of the output model that is not a pruned zero
     */
    public record Result(Path out, double densePerplexity, double perplexity, long paramsBefore, long paramsAfter,
                         double seconds, JsonNode report) {
    }

    private PruneJob() {
    }

    public static Result run(Spec spec, JobProgress progress) throws InterruptedException, IOException {
        try (LocalSolver solver = new LocalSolver(spec.workers())) {
            return run(spec, progress, solver);
        }
    }

    /** Runs the job with its shots solved by {@code solver} (the output does not depend on which). */
    public static Result run(Spec spec, JobProgress progress, ShotSolver solver)
            throws InterruptedException, IOException {
        long start = System.nanoTime();
        try (Checkpoint input = Checkpoint.open(spec.model());
             Tokenizer tokenizer = Tokenizer.load(input.tokenizerFile())) {
            input.requirePositions(spec.seqlen());
            input.requirePositions(spec.evalSeqlen());
            ShotUnits.check(input.layout(), spec.structure());
            if (spec.taylor() != null) {
                // a target the model cannot take is refused before anything is written
                long parameters = input.tensors().stream().mapToLong(TensorInfo::elements).sum();
                TaylorSelection.check(input.config(), input.layout(), Math.round(spec.target() * parameters),
                        spec.taylor());
            }
            if (spec.loraBetweenShots() != null) {
                LoraModel.check(input.layout(), LoraSettings.defaults(spec.seed()));
            }
            CalibrationSource source = spec.stored() != null ? spec.stored().source(tokenizer)
                    : CalibrationSource.of(tokenizer, spec.calibration(), spec.samples(), spec.seqlen(), spec.sampling(),
                    spec.seed());
            input.requirePositions(source.seq());
            Windows allWindows = Windows.read(tokenizer, spec.eval(), spec.evalSeqlen(), 0);
            Windows shotWindows = Windows.of(allWindows.tokens(), spec.evalSeqlen(), spec.evalWindows());
            // read before anything is written: a bad lancet.calibration.* knob is refused with the directory untouched
            CalibrationCoordinator.Settings calibrationSettings = Calibration.settings(spec.batch(), Precision.FP32);
            RunDirectory run = RunDirectory.open(spec.out(), spec.fingerprint(), spec.resume());
            if (run.finished()) {
                return result(spec.out(), run.recorded("report"), start);
            }
            Files.createDirectories(spec.out());
            return new Shots(spec, input, source, calibrationSettings, allWindows, shotWindows, run, progress, solver, start)
                    .all();
        }
    }

    static Result result(Path out, JsonNode report, long start) {
        return new Result(out, report.get("dense_perplexity").asDouble(), report.get("perplexity").asDouble(),
                report.get("params_before").asLong(), report.get("params_after").asLong(),
                (System.nanoTime() - start) / 1e9, report);
    }

    /** One run of the shots, from the first or from the last completed one. */
    private static final class Shots {
        private final Spec spec;
        private final Checkpoint input;
        private final CalibrationSource source;
        private final CalibrationCoordinator.Settings calibrationSettings;
        private final Windows allWindows;
        private final Windows shotWindows;
        private final RunDirectory run;
        private final JobProgress progress;
        private final ShotSolver solver;
        private final long start;
        private final long prunable;
        private final ObjectNode report;
        private Transformer model;

        Shots(Spec spec, Checkpoint input, CalibrationSource source, CalibrationCoordinator.Settings calibrationSettings,
              Windows allWindows, Windows shotWindows, RunDirectory run, JobProgress progress, ShotSolver solver,
              long start) {
            this.spec = spec;
            this.input = input;
            this.source = source;
            this.calibrationSettings = calibrationSettings;
            this.allWindows = allWindows;
            this.shotWindows = shotWindows;
            this.run = run;
            this.progress = progress;
            this.solver = solver;
            this.start = start;
            this.prunable = ShotUnits.prunable(input.layout());
            JsonNode recorded = run.recorded("report");
            this.report = recorded == null ? newReport() : (ObjectNode) recorded.deepCopy();
        }

        private ObjectNode newReport() {
            ObjectNode r = JSON.createObjectNode();
            r.set("job", spec.fingerprint());
            r.put("prunable_params", prunable);
            r.put("target_of", spec.taylor() != null ? "parameters" : "decoder linear weights");
            r.putArray("shots");
            return r;
        }

        Result all() throws InterruptedException, IOException {
            int first = run.shotsDone() + 1;
            model = first == 1 ? Transformer.load(input, DataType.FLOAT) : reload();
            try {
                if (first == 1) {
                    report.put("params_before", model.parameterCount());
                    List<Loss> dense = runningTotals(allWindows, "dense");
                    report.put("dense_perplexity", dense.get(dense.size() - 1).perplexity());
                    // the per-shot curve starts from the dense model measured on the same windows as the shots: the
                    // first of all the windows, so the pass over all of them measured them too when whole batches
                    boolean measured = shotWindows.count() % spec.batch() == 0
                            || shotWindows.count() == allWindows.count();
                    int shotBatches = (shotWindows.count() + spec.batch() - 1) / spec.batch();
                    report.put("dense_shot_perplexity", measured ? dense.get(shotBatches - 1).perplexity()
                            : evaluate(shotWindows, "dense"));
                }
                for (int shot = first; shot <= spec.shots(); shot++) {
                    shot(shot);
                }
                return finish();
            } finally {
                model.close();
            }
        }

        private Transformer reload() {
            try (Checkpoint last = Checkpoint.open(run.lastCheckpoint())) {
                return Transformer.load(last, DataType.FLOAT);
            }
        }

        /** What a shot removed and how long its calibration and solve took. */
        private record ShotWork(List<UnitReport> units, List<Integer> hiddenChannels, Double threshold,
                                double calibrationSeconds, double solveSeconds) {
        }

        private void shot(int shot) throws InterruptedException, IOException {
            double fraction = spec.schedule().sparsity(shot, spec.shots(), spec.target());
            ShotWork work = spec.taylor() != null ? taylorShot(shot, fraction) : obsShot(shot, fraction);
            long loraStart = System.nanoTime();
            if (spec.loraBetweenShots() != null) {
                tune(shot);
            }
            double loraSeconds = (System.nanoTime() - loraStart) / 1e9;
            long evalStart = System.nanoTime();
            double perplexity = evaluate(shotWindows, "shot " + shot + "/" + spec.shots());
            double evalSeconds = (System.nanoTime() - evalStart) / 1e9;

            long[] left = nonZeroPerLayer();
            ObjectNode s = ((ArrayNode) report.get("shots")).addObject();
            s.put("shot", shot).put("target", fraction).put("achieved", removedFraction(left))
                    .put("perplexity", perplexity);
            if (work.threshold() != null) {
                // +∞ when every candidate goes; JSON has no infinity
                s.put("threshold", Double.isFinite(work.threshold()) ? work.threshold() : Double.MAX_VALUE);
            }
            ObjectNode seconds = s.putObject("seconds").put("calibration", work.calibrationSeconds())
                    .put("solve", work.solveSeconds());
            if (spec.loraBetweenShots() != null) {
                seconds.put("lora", loraSeconds);
            }
            seconds.put("evaluation", evalSeconds);
            s.set("layers", layerReports(work.units(), left));
            s.set("blocks", blockReports(work.units()));
            if (!work.hiddenChannels().isEmpty()) {
                work.hiddenChannels().forEach(s.putArray("hidden_channels")::add);
            }
            ObjectNode state = JSON.createObjectNode();
            state.set("report", report);
            run.completeShot(shot, model, input, state);
        }

        /** LLM Surgeon and its baselines: KFAC curvature through the actors, one threshold through the workers. */
        private ShotWork obsShot(int shot, double fraction) throws InterruptedException {
            long target = Math.round(fraction * prunable);
            // coupled groups leave the model physically: what earlier shots took is no longer there to count
            long removedBefore = prunable - ShotUnits.prunable(model.layout());
            long calibrationStart = System.nanoTime();
            KfacState curvature = !spec.settings().method().needsCurvature() ? null
                    : shot == 1 && spec.stored() != null
                    ? FactorFile.readFor(spec.stored().factors(), model.layout()) : calibrate(shot);
            double calibrationSeconds = (System.nanoTime() - calibrationStart) / 1e9;
            long solveStart = System.nanoTime();
            PruneCoordinator.Solved solved;
            try {
                // structures that cost nothing (e.g. MLP channels a ReLU never opens) go at once, so an early shot can
                // take more than its share: the next ones then only remove what is left of theirs
                solved = solve(shot, curvature, Math.max(0, target - removedBefore));
            } finally {
                if (curvature != null) {
                    curvature.close();
                }
                // glibc keeps what the shot's actor threads freed in their malloc arenas, which the next shot's fresh
                // threads do not reuse: without handing it back, resident memory grows shot after shot (BENCHMARKS.md)
                Pointer.trimMemory();
            }
            if (spec.settings().structure() == Structure.GROUPS) {
                model = removeGroups(solved.units());
            }
            return new ShotWork(solved.units(), List.of(), solved.threshold(), calibrationSeconds,
                    (System.nanoTime() - solveStart) / 1e9);
        }

        /**
         * LLM-Pruner: gradients of the calibration loss (if the importance needs them), then the same share of the
         * lowest-scoring groups of every block in the range, or the model's lowest-scoring hidden channels, removed
         * physically; the schedule's fraction is of all the input model's parameters.
         */
        private ShotWork taylorShot(int shot, double fraction) {
            long before = report.get("params_before").asLong();
            long goal = Math.round(fraction * before) - (before - model.parameterCount());
            long calibrationStart = System.nanoTime();
            TaylorSettings taylor = spec.taylor();
            String phase = "shot " + shot + "/" + spec.shots() + " gradients " + WINDOWS;
            try (TaylorGradients gradients = taylor.importance().needsGradients() ? gradients(phase) : null) {
                double calibrationSeconds = (System.nanoTime() - calibrationStart) / 1e9;
                long solveStart = System.nanoTime();
                if (taylor.strategy() == Strategy.CHANNELS) {
                    List<Integer> hidden = TaylorSelection.hidden(model, Math.max(0, goal), taylor, gradients);
                    model = new HiddenChannelEdit(hidden).applyTo(model);
                    return new ShotWork(List.of(), hidden, null, calibrationSeconds,
                            (System.nanoTime() - solveStart) / 1e9);
                }
                List<UnitReport> units = TaylorSelection.select(model, Math.max(0, goal), taylor, gradients);
                model = removeGroups(units);
                return new ShotWork(units, List.of(), null, calibrationSeconds, (System.nanoTime() - solveStart) / 1e9);
            }
        }

        private TaylorGradients gradients(String phase) {
            progress.report(phase, 0, source.windows());
            return TaylorGradients.of(model, source, spec.taylor().importance().needsFisher(), spec.batch(),
                    done -> progress.report(phase, done, source.windows()));
        }

        /**
         * Trains fresh adapters (seeded by the run's seed and the shot) on the calibration windows, batch after batch,
         * and merges them: the pruned zeros stay zero. The rank shrinks to the narrowest layer left if it must.
         */
        private void tune(int shot) {
            LoraBetweenShots between = spec.loraBetweenShots();
            int narrowest = model.layout().linears().stream().mapToInt(l -> Math.min(l.in(), l.out())).min().orElseThrow();
            LoraSettings defaults = LoraSettings.defaults(spec.seed() * 1_000_003L + shot);
            LoraSettings settings = defaults.withRank(Math.min(defaults.rank(), narrowest));
            String phase = "shot " + shot + "/" + spec.shots() + " LoRA steps";
            progress.report(phase, 0, between.steps());
            try (LoraModel lora = LoraModel.attach(model, settings);
                 LoraTrainer trainer = new LoraTrainer(lora, new LoraTrainer.Schedule(between.learningRate(), 0,
                         between.steps()))) {
                int batches = source.batches(spec.batch());
                for (int step = 0; step < between.steps(); step++) {
                    trainer.step(List.of(source.batch(step % batches, spec.batch())));
                    progress.report(phase, step + 1, between.steps());
                }
                lora.merge();
            }
        }

        private KfacState calibrate(int shot) throws InterruptedException {
            return solver.calibrate(model, source, calibrationSettings, (phase, done, total) ->
                    progress.report("shot " + shot + "/" + spec.shots() + " calibration " + phase, done, total));
        }

        /** Solves the shot with the coordinator; a failed worker restarts the shot from its checkpoint's weights. */
        private PruneCoordinator.Solved solve(int shot, KfacState curvature, long target)
                throws InterruptedException {
            String phase = "shot " + shot + "/" + spec.shots() + " solve";
            Path checkpoint = (shot == 1 ? spec.model() : run.lastCheckpoint()).toAbsolutePath();
            for (int attempt = 1; ; attempt++) {
                progress.report(phase, 0, 1);
                // a killed run's .tmp- directories are removed when the run directory is opened again
                Path work = spec.out().toAbsolutePath().resolve(".tmp-shot-" + shot + "-" + attempt);
                PruneCoordinator.Solved solved = solver.solve(new ShotSolver.Shot(model, checkpoint, curvature,
                        spec.settings(), work), target);
                if (!solved.failed()) {
                    progress.report(phase, 1, 1);
                    return solved;
                }
                if (attempt == SHOT_ATTEMPTS) {
                    throw new IllegalStateException("shot " + shot + " failed " + attempt + " times: " + solved.failure());
                }
                // the failed attempt may have corrected some layers: start again from the weights the shot began with
                model.close();
                model = shot == 1 ? Transformer.load(input, DataType.FLOAT) : reload();
            }
        }

        private Transformer removeGroups(List<UnitReport> units) {
            StructuralEdit edit = new StructuralEdit();
            for (UnitReport u : units) {
                edit.dropHeads(u.block(), u.heads()).dropKvHeads(u.block(), u.kvHeads())
                        .dropChannels(u.block(), u.channels());
            }
            return edit.applyTo(model);
        }

        private double evaluate(Windows windows, String what) {
            List<Loss> totals = runningTotals(windows, what);
            return totals.get(totals.size() - 1).perplexity();
        }

        private List<Loss> runningTotals(Windows windows, String what) {
            String phase = what + " evaluation " + WINDOWS;
            progress.report(phase, 0, windows.count());
            return Perplexity.runningTotals(model, windows, spec.batch(), done -> progress.report(phase, done,
                    windows.count()));
        }

        /**
         * Fraction of the input model's decoder linear weights no longer there: removed or pruned to zero; for
         * LLM-Pruner, of all its parameters.
         */
        private double removedFraction(long[] left) {
            if (spec.taylor() != null) {
                long before = report.get("params_before").asLong();
                return (double) (before - model.parameterCount()) / before;
            }
            return (double) (prunable - LongStream.of(left).sum()) / prunable;
        }

        /**
         * Non-zero weights, bias included, of each decoder linear layer of the current model. Counted, not derived
         * from the units' reports: those miss zeros outside what they removed (an input pruned before, rows-cols or
         * groups).
         */
        private long[] nonZeroPerLayer() {
            return model.linears().stream().mapToLong(linear -> nonZero(linear.weight())
                    + (linear.bias() == null ? 0 : nonZero(linear.bias()))).toArray();
        }

        /** One reduction, no temporaries (a mask and its int64 cast touched 9 bytes of fresh memory per weight). */
        private static long nonZero(INDArray a) {
            try (INDArray count = Nd4j.getExecutioner().exec(new CountNonZero(a))) {
                return count.getLong(0);
            }
        }

        /** Per layer: its share of weights gone (against the input model) and what this shot removed. */
        private ArrayNode layerReports(List<UnitReport> units, long[] left) {
            ArrayNode layers = JSON.createArrayNode();
            var dense = input.layout().linears();
            var current = model.linears();
            List<UnitReport.LayerRemoval> removals = ShotUnits.layers(units);
            for (int i = 0; i < current.size(); i++) {
                var linear = current.get(i);
                var original = dense.get(i);
                long size = (long) original.out() * original.inputsWithBias();
                ObjectNode l = layers.addObject().put("layer", linear.name())
                        .put("sparsity", (double) (size - left[i]) / size)
                        .put("in", linear.inFeatures()).put("out", linear.outFeatures());
                removals.stream().filter(r -> r.layer().equals(linear.name())).findFirst().ifPresent(r ->
                        l.put("rows", r.rows()).put("columns", r.columns()).put("weights", r.weights()));
            }
            return layers;
        }

        /** Per block: the heads, key/value heads and MLP channels coupled-group pruning removed, indexed into the shot's model. */
        private static ArrayNode blockReports(List<UnitReport> units) {
            ArrayNode blocks = JSON.createArrayNode();
            for (UnitReport u : units) {
                if (!u.heads().isEmpty() || !u.kvHeads().isEmpty() || !u.channels().isEmpty()) {
                    ObjectNode b = blocks.addObject().put("block", u.block());
                    ArrayNode heads = b.putArray("heads");
                    u.heads().forEach(heads::add);
                    ArrayNode kvHeads = b.putArray("kv_heads");
                    u.kvHeads().forEach(kvHeads::add);
                    ArrayNode channels = b.putArray("channels");
                    u.channels().forEach(channels::add);
                }
            }
            return blocks;
        }

        /**
         * Saves the model in the input's dtypes, then measures the saved model on every evaluation window: the
         * reported perplexity is that of the file, rounding included.
         */
        private Result finish() throws IOException {
            long prunedZeros = ShotUnits.prunable(model.layout()) - LongStream.of(nonZeroPerLayer()).sum();
            report.put("params_after", model.parameterCount() - prunedZeros);
            if (spec.export() == Export.DENSE && spec.structure() == Structure.GROUPS) {
                Kept kept = keptOriginals();
                model = DenseExport.restore(model, input.layout(), kept.heads(), kept.kvHeads(), kept.channels());
            }
            CheckpointWriter.save(model, input, spec.out());
            model.close();
            try (Checkpoint saved = Checkpoint.open(spec.out())) {
                model = Transformer.load(saved, DataType.FLOAT);
            }
            report.put("perplexity", evaluate(allWindows, "final"));
            report.put("seconds", (System.nanoTime() - start) / 1e9);
            AtomicFiles.write(spec.out().resolve(REPORT), JSON.writeValueAsBytes(report));
            PrunePlot.write(report, spec.out().resolve(PLOT));
            ObjectNode state = JSON.createObjectNode();
            state.set("report", report);
            run.finish(state);
            return result(spec.out(), report, start);
        }

        /** Per block, the original indices of the query heads, key/value heads and MLP channels still there. */
        private record Kept(List<int[]> heads, List<int[]> kvHeads, List<int[]> channels) {
        }

        /**
         * Replays the removals the report records shot by shot, each indexed into that shot's model: a query head goes
         * with its own index or with its key/value group (query head h of a block with g per group is in group h / g).
         */
        private Kept keptOriginals() {
            Kept kept = new Kept(new ArrayList<>(), new ArrayList<>(), new ArrayList<>());
            for (var block : input.layout().blocks()) {
                kept.heads().add(IntStream.range(0, block.heads()).toArray());
                kept.kvHeads().add(IntStream.range(0, block.kvHeads()).toArray());
                kept.channels().add(IntStream.range(0, block.intermediate()).toArray());
            }
            for (JsonNode shot : report.get("shots")) {
                for (JsonNode b : shot.get("blocks")) {
                    int i = b.get("block").asInt();
                    Set<Integer> goneHeads = indices(b.get("heads"));
                    Set<Integer> goneKv = indices(b.get("kv_heads"));
                    int group = kept.heads().get(i).length / kept.kvHeads().get(i).length;
                    if (group == 1) { // as in the edit: a multi-head query head is its key/value head
                        goneKv.addAll(goneHeads);
                    }
                    kept.heads().set(i, keep(kept.heads().get(i), h -> !goneHeads.contains(h)
                            && !goneKv.contains(h / group)));
                    kept.kvHeads().set(i, keep(kept.kvHeads().get(i), k -> !goneKv.contains(k)));
                    Set<Integer> goneChannels = indices(b.get("channels"));
                    kept.channels().set(i, keep(kept.channels().get(i), c -> !goneChannels.contains(c)));
                }
            }
            return kept;
        }

        private static Set<Integer> indices(JsonNode array) {
            Set<Integer> set = new HashSet<>();
            array.forEach(i -> set.add(i.asInt()));
            return set;
        }

        /** The entries of {@code before} at the positions {@code stays} accepts. */
        private static int[] keep(int[] before, IntPredicate stays) {
            return IntStream.range(0, before.length).filter(stays).map(i -> before[i]).toArray();
        }
    }

    /** Workers default to one per core (lancet.prune.workers = 0). */
    public static int defaultWorkers() {
        return PerCore.count(ConfigFactory.load(), "lancet.prune.workers");
    }
}
