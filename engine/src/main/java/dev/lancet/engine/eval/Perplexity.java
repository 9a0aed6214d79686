package dev.lancet.engine.eval;

import dev.lancet.engine.model.Loss;
import dev.lancet.engine.model.TokenBatch;
import dev.lancet.engine.model.Transformer;
import dev.lancet.engine.text.Windows;
import java.util.ArrayList;
import java.util.List;
import java.util.function.LongConsumer;

/** Perplexity = exp(mean NLL) over positions 1..seq−1 of each window, given the prefix inside the window. */
public final class Perplexity {

    private Perplexity() {
    }

    /**
     * @param progress receives the number of windows done after each batch
     */
    public static Loss evaluate(Transformer model, Windows windows, int batchSize, LongConsumer progress) {
        List<Loss> totals = runningTotals(model, windows, batchSize, progress);
        return totals.isEmpty() ? new Loss(0, 0) : totals.get(totals.size() - 1);
    }

    /**
     * The summed loss after each batch: entry k is what {@link #evaluate} gives on the first (k + 1)·batchSize
     * windows alone, bit for bit (the same batches, summed in the same order), so one pass measures a prefix too.
     */
    public static List<Loss> runningTotals(Transformer model, Windows windows, int batchSize, LongConsumer progress) {
        List<Loss> totals = new ArrayList<>();
        Loss total = new Loss(0, 0);
        long done = 0;
        for (TokenBatch batch : windows.batches(batchSize)) {
            total = total.plus(model.loss(batch));
            totals.add(total);
            done += batch.batch();
            progress.accept(done);
        }
        return totals;
    }

    /** Convenience for tests and callers without progress reporting. */
    public static Loss evaluate(Transformer model, Windows windows, int batchSize) {
        return evaluate(model, windows, batchSize, done -> { });
    }
}
