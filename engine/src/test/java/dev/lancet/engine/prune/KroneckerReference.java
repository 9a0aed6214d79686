package dev.lancet.engine.prune;

import java.util.Arrays;

/**
 * The textbook OBS of a small layer on the explicit Kronecker matrix F = G ⊗ A (row-major vec(W̃): parameter
 * q = i·C̃ + j), in plain Java: dense products and a Gauss–Jordan inverse, independent of the LAPACK, BLAS and
 * factor structure the code under test uses. Dead indices are handled as the reference code does: deleted from
 * the matrices before damping and inverting.
 */
final class KroneckerReference {

    private KroneckerReference() {
    }

    /** M + damp · mean(diag M over the kept indices) · I on the kept indices; the rest deleted (null rows). */
    static double[][] damped(double[][] m, double damp, boolean[] keep) {
        int n = m.length;
        double sum = 0;
        int live = 0;
        for (int i = 0; i < n; i++) {
            if (keep[i]) {
                sum += m[i][i];
                live++;
            }
        }
        double lambda = damp * sum / live;
        double[][] d = new double[n][];
        for (int i = 0; i < n; i++) {
            if (keep[i]) {
                d[i] = m[i].clone();
                d[i][i] += lambda;
            }
        }
        return d;
    }

    static boolean[] all(int n) {
        boolean[] keep = new boolean[n];
        Arrays.fill(keep, true);
        return keep;
    }

    /** F = G ⊗ A restricted to the parameters whose row and column are both kept; {@code index} maps them. */
    static double[][] kron(double[][] g, double[][] a, int[] index) {
        int c = a.length;
        int n = index.length;
        double[][] f = new double[n][n];
        for (int p = 0; p < n; p++) {
            for (int q = 0; q < n; q++) {
                f[p][q] = g[index[p] / c][index[q] / c] * a[index[p] % c][index[q] % c];
            }
        }
        return f;
    }

    /** Parameters q = i·C̃ + j with row i and column j kept, ascending. */
    static int[] liveParameters(boolean[] keepRows, boolean[] keepColumns) {
        int c = keepColumns.length;
        return java.util.stream.IntStream.range(0, keepRows.length * c)
                .filter(q -> keepRows[q / c] && keepColumns[q % c]).toArray();
    }

    static double[][] inverse(double[][] m) {
        int n = m.length;
        double[][] a = new double[n][2 * n];
        for (int i = 0; i < n; i++) {
            System.arraycopy(m[i], 0, a[i], 0, n);
            a[i][n + i] = 1;
        }
        for (int col = 0; col < n; col++) {
            int pivot = col;
            for (int r = col + 1; r < n; r++) {
                if (Math.abs(a[r][col]) > Math.abs(a[pivot][col])) {
                    pivot = r;
                }
            }
            double[] t = a[col];
            a[col] = a[pivot];
            a[pivot] = t;
            double p = a[col][col];
            for (int k = 0; k < 2 * n; k++) {
                a[col][k] /= p;
            }
            for (int r = 0; r < n; r++) {
                if (r != col && a[r][col] != 0) {
                    double factor = a[r][col];
                    for (int k = 0; k < 2 * n; k++) {
                        a[r][k] -= factor * a[col][k];
                    }
                }
            }
        }
        double[][] inv = new double[n][];
        for (int i = 0; i < n; i++) {
            inv[i] = Arrays.copyOfRange(a[i], n, 2 * n);
        }
        return inv;
    }

    /** The OBS removal of the parameter positions {@code q} (into theta) under the curvature f. */
    record Obs(double cost, double[] delta) {
    }

    /** ΔL = ½ θ_Qᵀ([F⁻¹]_QQ)⁻¹θ_Q and Δθ = −F⁻¹E_Q([F⁻¹]_QQ)⁻¹θ_Q. */
    static Obs obs(double[][] f, double[] theta, int[] q) {
        double[][] finv = inverse(f);
        int k = q.length;
        double[][] block = new double[k][k];
        for (int p = 0; p < k; p++) {
            for (int r = 0; r < k; r++) {
                block[p][r] = finv[q[p]][q[r]];
            }
        }
        double[][] blockInverse = inverse(block);
        double[] y = new double[k];
        double cost = 0;
        for (int p = 0; p < k; p++) {
            for (int r = 0; r < k; r++) {
                y[p] += blockInverse[p][r] * theta[q[r]];
            }
            cost += 0.5 * theta[q[p]] * y[p];
        }
        double[] delta = new double[theta.length];
        for (int i = 0; i < theta.length; i++) {
            for (int p = 0; p < k; p++) {
                delta[i] -= finv[i][q[p]] * y[p];
            }
        }
        return new Obs(cost, delta);
    }

    /** ½ δᵀ F δ. */
    static double quadratic(double[][] f, double[] delta) {
        double sum = 0;
        for (int i = 0; i < delta.length; i++) {
            for (int j = 0; j < delta.length; j++) {
                sum += delta[i] * f[i][j] * delta[j];
            }
        }
        return 0.5 * sum;
    }

    static double[][] times(double[][] x, double[][] y) {
        double[][] z = new double[x.length][y[0].length];
        for (int i = 0; i < x.length; i++) {
            for (int k = 0; k < y.length; k++) {
                for (int j = 0; j < y[0].length; j++) {
                    z[i][j] += x[i][k] * y[k][j];
                }
            }
        }
        return z;
    }
}
