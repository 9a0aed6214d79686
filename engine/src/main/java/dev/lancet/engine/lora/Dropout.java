package dev.lancet.engine.lora;

import java.util.SplittableRandom;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Inverted dropout on the adapters' inputs, shared by the adapters of one model. Each mask is a function of
 * (seed, step, micro-batch, adapter) alone: backward regenerates the mask forward drew instead of keeping it, and a
 * resumed run draws exactly the masks of an uninterrupted one. Off (identity) outside training.
 */
final class Dropout {

    private final double p;
    private final long seed;
    private boolean training;
    private long step;
    private int microBatch;

    Dropout(double p, long seed) {
        this.p = p;
        this.seed = seed;
    }

    /** Masks for the forward and backward of (step, micro-batch) until {@link #stop()}. */
    void start(long step, int microBatch) {
        this.training = true;
        this.step = step;
        this.microBatch = microBatch;
    }

    void stop() {
        training = false;
    }

    /** The mask (0 or 1/(1−p) per element) for adapter {@code adapter}'s input of this shape; null when off. */
    INDArray mask(int adapter, long rows, long columns, DataType dtype) {
        if (!training || p == 0) {
            return null;
        }
        long key = ((step * 1_000_003L + microBatch) * 1_000_003L + adapter);
        SplittableRandom random = new SplittableRandom(seed * 0x9E3779B97F4A7C15L + key);
        float kept = (float) (1 / (1 - p));
        float[] values = new float[Math.toIntExact(rows * columns)];
        for (int i = 0; i < values.length; i++) {
            values[i] = random.nextDouble() < p ? 0f : kept;
        }
        INDArray mask = Nd4j.createFromArray(values).reshape('c', rows, columns);
        return dtype == DataType.FLOAT ? mask : mask.castTo(dtype);
    }
}
