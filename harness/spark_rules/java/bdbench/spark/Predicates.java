package bdbench.spark;

import java.util.ArrayList;
import java.util.List;

import org.apache.spark.sql.catalyst.expressions.And;
import org.apache.spark.sql.catalyst.expressions.Expression;

/**
 * Conjunct utilities shared by the rules, in the spirit of Catalyst's {@code PredicateHelper}
 * (a Scala trait, which Java classes cannot mix in).
 */
public final class Predicates {

    private Predicates() {
    }

    /** The conjuncts of nested ANDs, left to right. */
    public static List<Expression> splitConjuncts(Expression condition) {
        List<Expression> out = new ArrayList<>();
        split(condition, out);
        return out;
    }

    private static void split(Expression e, List<Expression> out) {
        if (e instanceof And) {
            And and = (And) e;
            split(and.left(), out);
            split(and.right(), out);
        } else {
            out.add(e);
        }
    }

    /** Left-deep AND of a non-empty list of predicates. */
    public static Expression conjunction(List<Expression> predicates) {
        Expression result = predicates.get(0);
        for (int i = 1; i < predicates.size(); i++) {
            result = new And(result, predicates.get(i));
        }
        return result;
    }

    /**
     * Whether every predicate is deterministic: only then may they be reordered or moved onto
     * fewer rows without changing results.
     */
    public static boolean allDeterministic(List<Expression> predicates) {
        for (Expression e : predicates) {
            if (!e.deterministic()) {
                return false;
            }
        }
        return true;
    }
}
