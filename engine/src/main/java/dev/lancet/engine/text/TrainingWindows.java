package dev.lancet.engine.text;

import dev.lancet.engine.model.TokenBatch;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Training windows in epochs: every non-overlapping window once per epoch, in an order shuffled per epoch with a
 * seeded generator (a data loader's shuffle). Which windows a step gets depends on (seed, step) only, so a resumed
 * run sees the batches of an uninterrupted one.
 */
public final class TrainingWindows {

    private final Windows windows;
    private final long seed;
    private int epoch = -1;
    private int[] order;

    public TrainingWindows(Windows windows, long seed) {
        this.windows = windows;
        this.seed = seed;
    }

    /** The {@code accumulate} micro-batches of {@code batch} windows of step {@code step} (0-based). */
    public List<TokenBatch> step(int step, int batch, int accumulate) {
        int seq = windows.seq();
        List<TokenBatch> microBatches = new ArrayList<>(accumulate);
        for (int m = 0; m < accumulate; m++) {
            int[] ids = new int[batch * seq];
            for (int j = 0; j < batch; j++) {
                long index = ((long) step * accumulate + m) * batch + j;
                int window = window(index);
                System.arraycopy(windows.tokens(), window * seq, ids, j * seq, seq);
            }
            microBatches.add(new TokenBatch(batch, seq, ids));
        }
        return microBatches;
    }

    private int window(long index) {
        int count = windows.count();
        int e = Math.toIntExact(index / count);
        if (e != epoch) {
            epoch = e;
            order = shuffled(count, new SplittableRandom(seed * 0x9E3779B97F4A7C15L + e));
        }
        return order[(int) (index % count)];
    }

    /** Fisher–Yates. */
    private static int[] shuffled(int n, SplittableRandom random) {
        int[] order = new int[n];
        for (int i = 0; i < n; i++) {
            order[i] = i;
        }
        for (int i = n - 1; i > 0; i--) {
            int j = random.nextInt(i + 1);
            int t = order[i];
            order[i] = order[j];
            order[j] = t;
        }
        return order;
    }
}
