package dev.lancet.engine.nn;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.Random;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

class SoftmaxTest {

    private static final int ROWS = 6;
    private static final int CLASSES = 4096;

    @Test
    void lossOnlyCrossEntropyEqualsTheLogSoftmaxOneAndTheInPlaceSoftmaxs() {
        Random random = new Random(5);
        float[][] logits = new float[ROWS][CLASSES];
        for (float[] row : logits) {
            for (int j = 0; j < CLASSES; j++) {
                row[j] = (float) (8 * random.nextGaussian());
            }
        }
        int[] rows = {0, 2, 3, 5};
        int[] classes = {17, 4095, 0, 2048};
        // reference: −log softmax in fp64, log Σ exp taken around the row's max
        double want = 0;
        for (int k = 0; k < rows.length; k++) {
            float[] row = logits[rows[k]];
            double max = Double.NEGATIVE_INFINITY;
            for (float v : row) {
                max = Math.max(max, v);
            }
            double sum = 0;
            for (float v : row) {
                sum += Math.exp(v - max);
            }
            want += max + Math.log(sum) - row[classes[k]];
        }
        INDArray x = Nd4j.createFromArray(logits);
        double lossOnly = Softmax.crossEntropy(x.dup(), rows, classes);
        assertEquals(want, lossOnly, 1e-6 * Math.abs(want));
        INDArray probabilities = x.dup();
        // the same arithmetic: the same bits
        assertEquals(lossOnly, Softmax.crossEntropyInPlace(probabilities, rows, classes), 0.0);
        INDArray rowSums = probabilities.sum(1);
        for (int r = 0; r < ROWS; r++) {
            assertEquals(1.0, rowSums.getDouble(r), 1e-5);
        }
        assertEquals(DataType.FLOAT, probabilities.dataType());
    }
}
