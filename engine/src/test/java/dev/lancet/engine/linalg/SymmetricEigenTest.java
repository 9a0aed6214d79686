package dev.lancet.engine.linalg;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/** dsyevd against the definition: orthonormal Q, descending Λ, Q Λ Qᵀ rebuilding the matrix. */
class SymmetricEigenTest {

    @Test
    void decomposesASecondMoment() {
        Nd4j.getRandom().setSeed(7);
        int n = 48;
        // rows with very unequal variances per direction, like a residual stream's
        INDArray x = Nd4j.randn(DataType.DOUBLE, 500, n).muliRowVector(
                Nd4j.linspace(DataType.DOUBLE, 0.01, 5, n));
        INDArray h = x.transpose().mmul(x);
        SymmetricEigen.Decomposition d = SymmetricEigen.descending(h);
        INDArray q = d.vectors();
        assertTrue(q.transpose().mmul(q).equalsWithEps(Nd4j.eye(n).castTo(DataType.DOUBLE), 1e-10));
        for (int i = 1; i < n; i++) {
            assertTrue(d.values()[i - 1] >= d.values()[i]);
        }
        INDArray lambda = Nd4j.diag(Nd4j.createFromArray(d.values()));
        INDArray rebuilt = q.mmul(lambda).mmul(q.transpose());
        double scale = h.norm2Number().doubleValue();
        assertEquals(0, rebuilt.sub(h).norm2Number().doubleValue() / scale, 1e-12);
        // each column is an eigenvector: H q = λ q
        INDArray hq = h.mmul(q.getColumn(0).reshape(n, 1));
        assertTrue(hq.equalsWithEps(q.getColumn(0).reshape(n, 1).mul(d.values()[0]), 1e-8 * scale));
    }
}
