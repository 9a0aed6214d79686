package dev.lancet.actors.calibration;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.nd4j.linalg.indexing.NDArrayIndex.all;
import static org.nd4j.linalg.indexing.NDArrayIndex.interval;

import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

class BlockPoolTest {

    @Test
    void copiesIntoBuffersGivenBackOfTheSameShape() {
        BlockPool pool = new BlockPool();
        INDArray source = Nd4j.rand(DataType.FLOAT, 4, 6);
        INDArray first = pool.copyOf(source.get(all(), interval(1, 4))); // a strided view
        assertEquals(source.get(all(), interval(1, 4)), first);
        pool.giveBack(first);
        INDArray again = pool.copyOf(source.getColumns(0, 2, 5));
        assertSame(first, again, "the buffer given back is reused");
        assertEquals(source.getColumns(0, 2, 5), again);
        INDArray other = pool.copyOf(source);
        assertNotSame(again, other);
        pool.close();
    }

    @Test
    void keepsNoMoreThanWasEverOutAtOnce() {
        BlockPool pool = new BlockPool();
        INDArray decoded = Nd4j.rand(DataType.FLOAT, 3, 3); // e.g. a block read off the wire: never handed out here
        pool.giveBack(decoded);
        assertTrue(decoded.wasClosed(), "a pool that handed nothing out keeps nothing");
        INDArray out = pool.copyOf(Nd4j.ones(DataType.FLOAT, 3, 3));
        INDArray extra = Nd4j.rand(DataType.FLOAT, 3, 3);
        pool.giveBack(out, extra);
        assertTrue(!out.wasClosed() && extra.wasClosed(), "one buffer was out at most, one is kept");
        pool.close();
        assertTrue(out.wasClosed());
    }
}
