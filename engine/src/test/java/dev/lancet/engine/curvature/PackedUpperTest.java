package dev.lancet.engine.curvature;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

class PackedUpperTest {

    @Test
    void packsTheUpperTriangleAndUnpacksASymmetricMatrix() {
        INDArray m = Nd4j.createFromArray(new double[][] {{1, 2, 3}, {-9, 4, 5}, {-9, -9, 6}}); // lower part ignored
        INDArray want = Nd4j.createFromArray(new double[][] {{1, 2, 3}, {2, 4, 5}, {3, 5, 6}});
        assertEquals(want, PackedUpper.of(m).toSymmetric());
    }

    @Test
    void gramOfTheLeadingBlockAndSingleEntriesAddUp() {
        INDArray x = Nd4j.createFromArray(new float[][] {{1, 2}, {3, -1}, {0, 2}});
        PackedUpper packed = PackedUpper.zeros(3);
        packed.addGram(x);
        packed.addGram(x.castTo(DataType.DOUBLE));
        packed.add(0, 2, 7);
        packed.add(2, 2, 3);
        // 2·xᵀx = 2·[[10, -1], [-1, 9]] in the leading 2×2 block
        INDArray want = Nd4j.createFromArray(new double[][] {{20, -2, 7}, {-2, 18, 0}, {7, 0, 3}});
        assertEquals(want, packed.toSymmetric());
    }
}
