package dev.lancet.jobs;

import dev.lancet.actors.calibration.CalibrationCoordinator;
import dev.lancet.engine.curvature.DirectCalibration;
import dev.lancet.engine.curvature.FactorFile;
import dev.lancet.engine.curvature.KfacState;
import dev.lancet.engine.curvature.Precision;
import dev.lancet.engine.model.Checkpoint;
import dev.lancet.engine.model.Transformer;
import dev.lancet.engine.text.CalibrationSource;
import dev.lancet.engine.text.Tokenizer;
import dev.lancet.engine.text.Windows;
import java.nio.file.Path;
import java.util.List;
import org.nd4j.linalg.api.buffer.DataType;

/**
 * KFAC factors of every decoder linear layer from calibration text, streamed through the actor pipeline (or
 * one plain loop), optionally added to an earlier factor file, written to a factor file.
 */
public final class CurvatureJob {

    /** Progress through the actors is counted in batches. */
    public static final String BATCHES = Calibration.BATCHES;
    /** Progress of the plain loop is counted in windows. */
    public static final String WINDOWS = "windows";

    /** How the batches are computed and folded. */
    public enum Pipeline {
        /** Streamed through the actor pipeline. */
        ACTORS,
        /** One plain loop, no actors: the baseline of BENCHMARKS.md. */
        DIRECT
    }

    /**
     * @param calibration text files, each tokenized on its own; a window never spans two
     * @param samples     calibration windows
     * @param seqlen      tokens per window
     * @param addTo       factor file whose state the new data is added to; null for none
     * @param out         factor file to write (may be {@code addTo}; replaced atomically)
     * @param precision   per-batch block arithmetic and file dtype; the sums are fp64 either way
     * @param batch       windows per batch; null for {@code lancet.calibration.batch-size}
     */
    public record Spec(Path model, List<Path> calibration, int samples, int seqlen, CalibrationSource.Sampling sampling,
                       long seed, Path addTo, Path out, Precision precision, Integer batch, Pipeline pipeline) {
        public Spec {
            calibration = List.copyOf(calibration);
            if (batch != null) {
                Windows.requireBatchSize(batch);
            }
        }
    }

    /**
     * @param tokens             labelled positions in the written factors, the added-to file's included
     * @param newTokens          labelled positions of this run's calibration data
     * @param seconds            the whole job
     * @param calibrationSeconds computing and folding the batches only
     */
    public record Result(Path out, int layers, long tokens, long newTokens, double seconds, double calibrationSeconds,
                         Pipeline pipeline) {
        /** Calibration throughput: new labelled positions per second of computing and folding. */
        public double tokensPerSecond() {
            return newTokens / calibrationSeconds;
        }
    }

    private CurvatureJob() {
    }

    public static Result run(Spec spec, JobProgress progress) throws InterruptedException {
        long start = System.nanoTime();
        CalibrationCoordinator.Settings settings = Calibration.settings(spec.batch(), spec.precision());
        FactorFile.checkDestination(spec.out());
        try (Checkpoint checkpoint = Checkpoint.open(spec.model());
             Tokenizer tokenizer = Tokenizer.load(checkpoint.tokenizerFile())) {
            checkpoint.requirePositions(spec.seqlen());
            CalibrationSource source = CalibrationSource.of(tokenizer, spec.calibration(), spec.samples(),
                    spec.seqlen(), spec.sampling(), spec.seed());
            try (Transformer model = Transformer.load(checkpoint,
                    spec.precision() == Precision.FP64 ? DataType.DOUBLE : DataType.FLOAT);
                 KfacState base = spec.addTo() == null ? null : FactorFile.readFor(spec.addTo(), model.layout())) {
                long baseTokens = base == null ? 0 : base.tokens();
                long calibrationStart = System.nanoTime();
                try (KfacState state = spec.pipeline() == Pipeline.DIRECT
                        ? direct(model, source, settings, base, progress)
                        : Calibration.run(model, source, settings, base, progress)) {
                    double calibrationSeconds = (System.nanoTime() - calibrationStart) / 1e9;
                    FactorFile.write(spec.out(), state, spec.precision());
                    return new Result(spec.out(), state.factors().size(), state.tokens(), state.tokens() - baseTokens,
                            (System.nanoTime() - start) / 1e9, calibrationSeconds, spec.pipeline());
                }
            }
        }
    }

    private static KfacState direct(Transformer model, CalibrationSource source,
                                    CalibrationCoordinator.Settings settings, KfacState base, JobProgress progress) {
        KfacState state = KfacState.empty(model.layout());
        try {
            progress.report(WINDOWS, 0, source.windows());
            DirectCalibration.accumulate(model, source, settings.batchSize(), settings.precision(), state,
                    done -> progress.report(WINDOWS, Math.min(done, source.windows()), source.windows()));
            if (base != null) {
                state.merge(base);
            }
            return state;
        } catch (RuntimeException e) {
            state.close();
            throw e;
        }
    }
}
