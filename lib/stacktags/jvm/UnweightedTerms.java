package stacktags;

import org.apache.spark.ml.linalg.DenseVector;
import org.apache.spark.ml.linalg.SparseVector;
import org.apache.spark.ml.linalg.Vector;
import org.apache.spark.sql.Column;
import org.apache.spark.sql.api.java.UDF1;
import org.apache.spark.sql.functions;
import org.apache.spark.sql.types.DataTypes;

/**
 * The share of a question's hashed terms that the model gives no weight (lib/stacktags/monitoring/profile.py): in
 * the IDF-weighted vector of a question, the stored entries that are 0. IDF keeps every bucket of the term-count
 * vector and multiplies it by the bucket's IDF, which is 0 for a bucket seen in fewer than minDocFreq training
 * questions: the model's out-of-vocabulary terms. A Java UDF because the vector's entries are out of reach of Spark
 * SQL's functions, and a Python UDF would copy every vector out of the JVM.
 */
public final class UnweightedTerms {
    private UnweightedTerms() {}

    /** A double column: zero entries / stored entries of an ML vector column; null for a null or empty vector. */
    public static Column share(Column vector) {
        return functions.udf((UDF1<Vector, Double>) UnweightedTerms::share, DataTypes.DoubleType).apply(vector);
    }

    static Double share(Vector vector) {
        if (vector == null) {
            return null;
        }
        double[] values = vector instanceof SparseVector ? ((SparseVector) vector).values()
                : ((DenseVector) vector).values();
        if (values.length == 0) {
            return null;
        }
        int zeros = 0;
        for (double value : values) {
            if (value == 0.0) {
                zeros++;
            }
        }
        return (double) zeros / values.length;
    }
}
