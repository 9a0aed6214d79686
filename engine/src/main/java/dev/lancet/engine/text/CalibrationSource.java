package dev.lancet.engine.text;

import dev.lancet.engine.io.CheckpointException;
import dev.lancet.engine.model.TokenBatch;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Calibration windows of {@code seq} tokens from one or more text files, each tokenized on its own; a window
 * never spans two files, so calibrating on A and then adding B gives the same windows as calibrating on A
 * and B at once. Sequential: consecutive non-overlapping windows from the start of each file, file by file.
 * Random: window starts drawn uniformly over all files with a seeded generator, like the reference
 * implementations' random wikitext windows.
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
        if (samples < 1) {
            throw new IllegalArgumentException("calibration needs at least 1 window, got " + samples);
        }
        Windows.requireLength(seq);
        List<int[]> texts = new ArrayList<>();
        for (Path file : files) {
            texts.add(Windows.tokenize(tokenizer, file, seq));
        }
        Path last = files.get(files.size() - 1);
        return sampling == Sampling.SEQUENTIAL ? sequential(texts, samples, seq, last) : random(texts, samples, seq, seed);
    }

    private static CalibrationSource sequential(List<int[]> texts, int samples, int seq, Path blame) {
        int[] windows = new int[samples * seq];
        int w = 0;
        for (int[] text : texts) {
            for (int start = 0; start + seq <= text.length && w < samples; start += seq, w++) {
                System.arraycopy(text, start, windows, w * seq, seq);
            }
        }
        if (w < samples) {
            throw new CheckpointException(blame, "the calibration text holds only " + w + " windows of " + seq
                    + " tokens, fewer than the " + samples + " asked for");
        }
        return new CalibrationSource(windows, seq, samples);
    }

    private static CalibrationSource random(List<int[]> texts, int samples, int seq, long seed) {
        long[] starts = new long[texts.size() + 1];
        for (int i = 0; i < texts.size(); i++) {
            starts[i + 1] = starts[i] + texts.get(i).length - seq + 1;
        }
        int[] windows = new int[samples * seq];
        SplittableRandom random = new SplittableRandom(seed);
        for (int w = 0; w < samples; w++) {
            long pick = random.nextLong(starts[texts.size()]);
            int file = 0;
            while (pick >= starts[file + 1]) {
                file++;
            }
            System.arraycopy(texts.get(file), (int) (pick - starts[file]), windows, w * seq, seq);
        }
        return new CalibrationSource(windows, seq, samples);
    }

    /**
     * The windows of {@code parts}, in order (e.g. calibration data accepted batch by batch); all must have windows
     * of one length.
     */
    public static CalibrationSource concat(List<CalibrationSource> parts) {
        if (parts.isEmpty()) {
            throw new IllegalArgumentException("calibration needs at least 1 window, got none");
        }
        int seq = parts.get(0).seq;
        int count = 0;
        for (CalibrationSource part : parts) {
            if (part.seq != seq) {
                throw new IllegalArgumentException("calibration windows of " + seq + " and " + part.seq
                        + " tokens cannot be calibrated on together");
            }
            count += part.count;
        }
        int[] windows = new int[count * seq];
        int at = 0;
        for (CalibrationSource part : parts) {
            System.arraycopy(part.windows, 0, windows, at, part.count * seq);
            at += part.count * seq;
        }
        return new CalibrationSource(windows, seq, count);
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
        Windows.requireBatchSize(batchSize);
        return (count + batchSize - 1) / batchSize;
    }
}
