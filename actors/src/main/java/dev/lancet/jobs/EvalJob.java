package dev.lancet.jobs;

import dev.lancet.engine.eval.Perplexity;
import dev.lancet.engine.model.Checkpoint;
import dev.lancet.engine.model.Loss;
import dev.lancet.engine.model.Transformer;
import dev.lancet.engine.text.Tokenizer;
import dev.lancet.engine.text.Windows;
import java.nio.file.Path;
import org.nd4j.linalg.api.buffer.DataType;

/** Perplexity of a model on a text file, by the protocol of LLM Surgeon, SliceGPT and SparseGPT. */
public final class EvalJob {

    /** Progress is counted in windows. */
    public static final String WINDOWS = "windows";

    /**
     * @param seqlen     window length in tokens; the whole file is cut into non-overlapping windows
     * @param maxWindows evaluate at most this many windows (0: all)
     * @param batch      windows per forward pass
     * @param fp64       compute in fp64 instead of fp32
     */
    public record Spec(Path model, Path data, int seqlen, int maxWindows, int batch, boolean fp64) {
        public Spec {
            Windows.requireLength(seqlen);
            Windows.requireBatchSize(batch);
            if (maxWindows < 0) {
                throw new IllegalArgumentException("the window limit must be >= 0 (0: all windows), got " + maxWindows);
            }
        }
    }

    /** Perplexity = exp(mean NLL) over {@code tokens} scored positions in {@code windows} windows. */
    public record Result(double perplexity, long tokens, int windows, int seqlen, double seconds) {
        /** Every token of every window (scored or not) per second, loading included. */
        public double tokensPerSecond() {
            return windows * (double) seqlen / seconds;
        }
    }

    private EvalJob() {
    }

    public static Result run(Spec spec, JobProgress progress) {
        long start = System.nanoTime();
        try (Checkpoint checkpoint = Checkpoint.open(spec.model());
             Tokenizer tokenizer = Tokenizer.load(checkpoint.tokenizerFile())) {
            checkpoint.requirePositions(spec.seqlen());
            Windows windows = Windows.read(tokenizer, spec.data(), spec.seqlen(), spec.maxWindows());
            try (Transformer transformer = Transformer.load(checkpoint, spec.fp64() ? DataType.DOUBLE : DataType.FLOAT)) {
                progress.report(WINDOWS, 0, windows.count());
                Loss loss = Perplexity.evaluate(transformer, windows, spec.batch(),
                        done -> progress.report(WINDOWS, done, windows.count()));
                return new Result(loss.perplexity(), loss.tokens(), windows.count(), spec.seqlen(),
                        (System.nanoTime() - start) / 1e9);
            }
        }
    }
}
