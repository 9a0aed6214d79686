package dev.lancet.engine.text;

import dev.lancet.engine.io.CheckpointException;
import dev.lancet.engine.model.TokenBatch;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Calibration windows of {@code seq} tokens from one or more text files (tokenized and concatenated in the
 * order given). Sequential: consecutive non-overlapping windows from the start. Random: window starts drawn
 * uniformly with a seeded generator, like the reference implementations' random wikitext windows.
 */
public final class CalibrationSource {

    public enum Sampling { SEQUENTIAL, RANDOM }

    private final int[] windows;
    private final int seq;
    private final int count;

    private CalibrationSource(int[] windows, int seq, int count) {
        this.windows = windows;
        this.seq = seq;
        this.count = count;
    }

    public static CalibrationSource of(Tokenizer tokenizer, List<Path> files, int samples, int seq, Sampling sampling,
                                       long seed) {
        List<int[]> parts = new ArrayList<>();
        int total = 0;
        for (Path file : files) {
            int[] ids = tokenizer.encode(TextFiles.readUtf8(file));
            parts.add(ids);
            total += ids.length;
        }
        int[] stream = new int[total];
        int at = 0;
        for (int[] part : parts) {
            System.arraycopy(part, 0, stream, at, part.length);
            at += part.length;
        }
        return of(stream, samples, seq, sampling, seed, files.get(files.size() - 1));
    }

    /** @param blame the file named in the error when there is too little text */
    static CalibrationSource of(int[] stream, int samples, int seq, Sampling sampling, long seed, Path blame) {
        if (samples < 1 || seq < 2) {
            throw new IllegalArgumentException("need --samples >= 1 and --seqlen >= 2");
        }
        int available = stream.length / seq;
        if (sampling == Sampling.SEQUENTIAL && available < samples) {
            throw new CheckpointException(blame, "only " + stream.length + " tokens: " + available + " windows of "
                    + seq + ", fewer than --samples " + samples);
        }
        if (stream.length <= seq) {
            throw new CheckpointException(blame, "only " + stream.length + " tokens, shorter than one window of " + seq);
        }
        int[] windows = new int[samples * seq];
        SplittableRandom random = new SplittableRandom(seed);
        for (int w = 0; w < samples; w++) {
            int start = sampling == Sampling.SEQUENTIAL ? w * seq : random.nextInt(stream.length - seq + 1);
            System.arraycopy(stream, start, windows, w * seq, seq);
        }
        return new CalibrationSource(windows, seq, samples);
    }

    public int windows() {
        return count;
    }

    public int seq() {
        return seq;
    }

    /** Batch {@code index} of at most {@code batchSize} windows; batches are numbered from 0. */
    public TokenBatch batch(int index, int batchSize) {
        int first = index * batchSize;
        int n = Math.min(batchSize, count - first);
        if (first < 0 || n <= 0) {
            throw new IndexOutOfBoundsException("batch " + index + " of " + batches(batchSize));
        }
        return new TokenBatch(n, seq, Arrays.copyOfRange(windows, first * seq, (first + n) * seq));
    }

    public int batches(int batchSize) {
        return (count + batchSize - 1) / batchSize;
    }
}
