package dev.lancet.engine.nn;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.nd4j.linalg.indexing.NDArrayIndex.all;
import static org.nd4j.linalg.indexing.NDArrayIndex.interval;

import java.util.Random;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

class RopeTest {

    private static final int BATCH = 2;
    private static final int SEQ = 5;
    private static final int HEADS = 3;
    private static final int DIM = 8;
    private static final double THETA = 10_000;

    private static INDArray random(long seed, DataType dtype) {
        Random random = new Random(seed);
        double[] values = new double[BATCH * SEQ * HEADS * DIM];
        for (int i = 0; i < values.length; i++) {
            values[i] = random.nextGaussian();
        }
        return Nd4j.createFromArray(values).reshape(BATCH, SEQ, HEADS, DIM).castTo(dtype);
    }

    /** Each pair (x_i, x_{i+d/2}) at position t turned by t·θ^(−2i/d), as a complex product in fp64. */
    private static double[] rotated(INDArray x, double sign) {
        double[] v = x.castTo(DataType.DOUBLE).dup('c').data().asDouble();
        double[] r = new double[v.length];
        for (int row = 0; row < v.length / DIM; row++) {
            int position = row / HEADS % SEQ;
            for (int i = 0; i < DIM / 2; i++) {
                double angle = sign * position * Math.pow(THETA, -2.0 * i / DIM);
                double re = v[row * DIM + i];
                double im = v[row * DIM + DIM / 2 + i];
                r[row * DIM + i] = re * Math.cos(angle) - im * Math.sin(angle);
                r[row * DIM + DIM / 2 + i] = im * Math.cos(angle) + re * Math.sin(angle);
            }
        }
        return r;
    }

    @Test
    void rotatesEachPairByItsPositionsAngleAndBackwardTurnsBack() {
        Rope rope = new Rope(DIM, THETA, RopeScaling.UNSCALED);
        for (DataType dtype : new DataType[] {DataType.FLOAT, DataType.DOUBLE}) {
            double tolerance = dtype == DataType.FLOAT ? 1e-6 : 1e-14;
            INDArray x = random(1, dtype);
            assertArrayEquals(rotated(x, 1), rope.apply(x).castTo(DataType.DOUBLE).data().asDouble(), tolerance);
            // backward is the transpose of a rotation: the inverse rotation
            assertArrayEquals(rotated(x, -1), rope.backward(x).castTo(DataType.DOUBLE).data().asDouble(), tolerance);
            assertEquals(dtype, rope.apply(x).dataType());
        }
    }

    @Test
    void aStridedViewIsRotatedLikeItsCopy() {
        Rope rope = new Rope(DIM, THETA, RopeScaling.UNSCALED);
        INDArray wide = Nd4j.rand(DataType.FLOAT, BATCH, SEQ, HEADS, 2 * DIM);
        INDArray view = wide.get(all(), all(), all(), interval(DIM, 2 * DIM));
        assertEquals(rope.apply(view.dup('c')), rope.apply(view));
    }

    @Test
    void fp32ResultsAreTheBitsOfTheElementWiseOps() {
        // x₁·cos − x₂·sin and x₂·cos + x₁·sin with every product and sum rounded to fp32, as ND4J's ops compute it
        Rope rope = new Rope(DIM, THETA, RopeScaling.UNSCALED);
        INDArray x = random(7, DataType.FLOAT);
        double[] angles = new double[SEQ * DIM / 2];
        for (int t = 0; t < SEQ; t++) {
            for (int i = 0; i < DIM / 2; i++) {
                angles[t * DIM / 2 + i] = t * Math.pow(THETA, -2.0 * i / DIM);
            }
        }
        INDArray angle = Nd4j.createFromArray(angles).reshape(SEQ, 1, DIM / 2);
        INDArray cos = org.nd4j.linalg.ops.transforms.Transforms.cos(angle).castTo(DataType.FLOAT);
        INDArray sin = org.nd4j.linalg.ops.transforms.Transforms.sin(angle).castTo(DataType.FLOAT);
        INDArray x1 = x.get(all(), all(), all(), interval(0, DIM / 2));
        INDArray x2 = x.get(all(), all(), all(), interval(DIM / 2, DIM));
        INDArray want = Nd4j.concat(3, x1.mul(cos).subi(x2.mul(sin)), x2.mul(cos).addi(x1.mul(sin)));
        assertArrayEquals(want.data().asFloat(), rope.apply(x).data().asFloat(), 0f);
    }
}
