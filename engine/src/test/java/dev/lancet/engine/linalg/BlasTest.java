package dev.lancet.engine.linalg;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.nd4j.linalg.indexing.NDArrayIndex.all;
import static org.nd4j.linalg.indexing.NDArrayIndex.interval;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/** Direct OpenBLAS GEMM against a naive triple loop, including transposes and slice views with offsets. */
class BlasTest {

    @ParameterizedTest
    @CsvSource({"false,false,FLOAT", "true,false,FLOAT", "false,true,DOUBLE", "true,true,DOUBLE"})
    void batchedGemmMatchesNaiveProduct(boolean ta, boolean tb, DataType dtype) {
        Nd4j.getRandom().setSeed(1);
        INDArray a = Nd4j.rand(dtype, 3, ta ? 7 : 5, ta ? 5 : 7);
        INDArray b = Nd4j.rand(dtype, 3, tb ? 4 : 7, tb ? 7 : 4);
        INDArray c = Blas.batchedGemm(a, ta, b, tb);
        for (int s = 0; s < 3; s++) {
            for (int i = 0; i < 5; i++) {
                for (int j = 0; j < 4; j++) {
                    double want = 0;
                    for (int k = 0; k < 7; k++) {
                        want += (ta ? a.getDouble(s, k, i) : a.getDouble(s, i, k)) * (tb ? b.getDouble(s, j, k) : b.getDouble(s, k, j));
                    }
                    assertEquals(want, c.getDouble(s, i, j), dtype == DataType.FLOAT ? 1e-5 : 1e-12);
                }
            }
        }
    }

    @ParameterizedTest
    @CsvSource({"FLOAT", "DOUBLE"})
    void accumulatesIntoOutputAndHandlesStridedInput(DataType dtype) {
        INDArray a = Nd4j.rand(dtype, 6, 9).get(all(), interval(2, 8));
        INDArray b = Nd4j.rand(dtype, 6, 3);
        INDArray c = Nd4j.ones(dtype, 10, 3);
        Blas.gemm(a, true, b, false, c.get(interval(2, 8)), 2.0, 1.0);
        INDArray want = a.transpose().mmul(b).muli(2.0).addi(1.0);
        assertEquals(0, want.sub(c.get(interval(2, 8))).norm1Number().doubleValue(), dtype == DataType.FLOAT ? 1e-4 : 1e-12);
        assertEquals(12, c.get(interval(0, 2)).sumNumber().doubleValue() + c.get(interval(8, 10)).sumNumber().doubleValue());
    }

    @ParameterizedTest
    @CsvSource({"FLOAT", "DOUBLE"})
    void syrkWritesTheUpperTriangleOfTheLeadingBlockOnly(DataType dtype) {
        INDArray a = Nd4j.rand(dtype, 7, 4);
        INDArray c = Nd4j.ones(dtype, 5, 5);
        Blas.syrkUpper(a, c, 2.0, 1.0);
        INDArray product = a.transpose().mmul(a);
        for (int i = 0; i < 5; i++) {
            for (int j = 0; j < 5; j++) {
                double want = i < 4 && j < 4 && i <= j ? 1 + 2 * product.getDouble(i, j) : 1;
                assertEquals(want, c.getDouble(i, j), dtype == DataType.FLOAT ? 1e-5 : 1e-12, i + "," + j);
            }
        }
    }
}
