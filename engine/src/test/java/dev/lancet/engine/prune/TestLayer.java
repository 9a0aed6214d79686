package dev.lancet.engine.prune;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.lancet.engine.curvature.KfacFactor;
import dev.lancet.engine.nn.Linear;
import java.util.Random;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * A small random linear layer with KFAC means built from correlated samples as calibration would (A from inputs
 * with the 1 appended for the bias, G from output gradients), as plain Java arrays for the references and as the
 * engine's types for the code under test.
 */
final class TestLayer {

    final String name;
    final int rows;
    final int inputs;
    final boolean bias;
    final double[][] g;
    final double[][] a;
    /** W̃ = [W | b]. */
    final double[][] w;

    private TestLayer(String name, int rows, int inputs, boolean bias, double[][] g, double[][] a, double[][] w) {
        this.name = name;
        this.rows = rows;
        this.inputs = inputs;
        this.bias = bias;
        this.g = g;
        this.a = a;
        this.w = w;
    }

    /**
     * A layer whose gradients never reach {@code silentOutputs} (G_ii = 0) and whose inputs {@code silentInputs}
     * are always 0 (A_jj = 0).
     */
    static TestLayer random(long seed, int rows, int inputs, boolean bias, int[] silentOutputs, int[] silentInputs) {
        Random random = new Random(seed);
        int columns = inputs + (bias ? 1 : 0);
        double[][] x = samples(random, 4 * columns, inputs, columns, silentInputs);
        if (bias) {
            for (double[] sample : x) {
                sample[inputs] = 1;
            }
        }
        double[][] w = new double[rows][columns];
        for (double[] row : w) {
            for (int j = 0; j < columns; j++) {
                row[j] = random.nextGaussian() * (1 + j % 3);
            }
        }
        return new TestLayer("layers.0.test", rows, inputs, bias, secondMoment(samples(random, 4 * rows, rows, rows,
                silentOutputs)), secondMoment(x), w);
    }

    static TestLayer random(long seed, int rows, int inputs, boolean bias) {
        return random(seed, rows, inputs, bias, new int[0], new int[0]);
    }

    /** n correlated samples of d values in rows of {@code width} ≥ d (room for the bias 1), zero at {@code silent}. */
    private static double[][] samples(Random random, int n, int d, int width, int[] silent) {
        double[][] mix = new double[d][d];
        for (int i = 0; i < d; i++) {
            for (int j = 0; j < d; j++) {
                mix[i][j] = (i == j ? 1 : 0) + 0.4 * random.nextGaussian();
            }
        }
        double[][] samples = new double[n][width];
        for (double[] s : samples) {
            double[] z = random.doubles(d).map(v -> v - 0.3).toArray();
            for (int i = 0; i < d; i++) {
                for (int j = 0; j < d; j++) {
                    s[i] += mix[i][j] * z[j] * (1 + i % 4);
                }
            }
            for (int i : silent) {
                s[i] = 0;
            }
        }
        return samples;
    }

    /** E[x xᵀ] over the samples. */
    private static double[][] secondMoment(double[][] samples) {
        int d = samples[0].length;
        double[][] m = new double[d][d];
        for (double[] s : samples) {
            for (int i = 0; i < d; i++) {
                for (int j = 0; j < d; j++) {
                    m[i][j] += s[i] * s[j] / samples.length;
                }
            }
        }
        return m;
    }

    int columns() {
        return inputs + (bias ? 1 : 0);
    }

    /** The layer with fresh weight and bias arrays of {@code dtype}. */
    Linear linear(DataType dtype) {
        double[][] weight = new double[rows][inputs];
        double[] b = new double[rows];
        for (int i = 0; i < rows; i++) {
            System.arraycopy(w[i], 0, weight[i], 0, inputs);
            b[i] = bias ? w[i][inputs] : 0;
        }
        return new Linear(name, Nd4j.createFromArray(weight).castTo(dtype),
                bias ? Nd4j.createFromArray(b).castTo(dtype) : null, true);
    }

    KfacFactor factor() {
        return KfacFactor.fromMeans(name, bias, Nd4j.createFromArray(a), Nd4j.createFromArray(g), 1000);
    }

    LayerCurvature curvature(PruneMethod method, Damping damping) {
        try (KfacFactor factor = factor()) {
            return LayerCurvature.of(method, factor, linear(DataType.DOUBLE), damping);
        }
    }

    /** vec(W̃), row-major. */
    double[] theta() {
        return flatten(w);
    }

    /** vec(W̃) of a layer's current weight and bias. */
    static double[] theta(Linear layer) {
        INDArray weight = layer.weight().castTo(DataType.DOUBLE);
        int rows = layer.outFeatures();
        int inputs = layer.inFeatures();
        int columns = inputs + (layer.bias() == null ? 0 : 1);
        double[] theta = new double[rows * columns];
        for (int i = 0; i < rows; i++) {
            for (int j = 0; j < inputs; j++) {
                theta[i * columns + j] = weight.getDouble(i, j);
            }
            if (layer.bias() != null) {
                theta[i * columns + inputs] = layer.bias().getDouble(i);
            }
        }
        return theta;
    }

    static double[] flatten(double[][] m) {
        double[] flat = new double[m.length * m[0].length];
        for (int i = 0; i < m.length; i++) {
            System.arraycopy(m[i], 0, flat, i * m[0].length, m[0].length);
        }
        return flat;
    }

    /** Element-wise |want − got| ≤ tolerance · max |want|. */
    static void assertClose(double[] want, double[] got, double tolerance, String what) {
        double scale = 0;
        for (double v : want) {
            scale = Math.max(scale, Math.abs(v));
        }
        assertEquals(want.length, got.length, what + ": length");
        for (int i = 0; i < want.length; i++) {
            assertEquals(want[i], got[i], tolerance * scale, what + " [" + i + "]");
        }
    }
}
