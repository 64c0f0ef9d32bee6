import CredenceData
@testable import CredenceInference
import CredenceNN
import CredenceTensor
import Foundation
import Testing

@Suite struct ScratchSWAG {
    @Test func explore() throws {
        let t0 = Date()
        let problem = LogisticGridProblem.standard
        print("grid seconds", Date().timeIntervalSince(t0))
        print("map", problem.map, "mean", problem.mean, "cov", problem.covariance, "laplace", LogisticGridProblem.inverse2(problem.mapHessian))
        // gradient noise covariance at MAP
        let n = problem.count
        var g = [[Double]]()
        for i in 0..<n {
            let x0 = problem.points[2*i], x1 = problem.points[2*i+1]
            let r = LogisticGridProblem.sigmoid(problem.map[0]*x0 + problem.map[1]*x1) - Double(problem.labels[i])
            g.append([r*x0, r*x1])
        }
        let gm = [g.map{$0[0]}.reduce(0,+)/Double(n), g.map{$0[1]}.reduce(0,+)/Double(n)]
        var trC = 0.0
        for v in g { trC += (v[0]-gm[0])*(v[0]-gm[0]) + (v[1]-gm[1])*(v[1]-gm[1]) }
        trC /= Double(n)
        for b in [1, 4, 10] {
          for mu in [Float(0), 0.9] {
            let eps = 2 * Double(b) * 2 / (Double(n) * trC)
            let lr = Float(eps) * (1 - mu)
            let swag = SWAGCollection(learningRate: .constant(lr), momentum: mu, weightDecay: problem.weightDecay,
                                      collectEvery: 5, rank: 20, covariance: .lowRankPlusDiagonal, scale: 1)
            let t1 = Date()
            let fit = try fitPosterior(swag, model: problem.model, parameters: problem.mapParameters, task: .classification,
                                       data: problem.dataset, epochs: 200 * b, batchSize: b, seed: 1)
            let post = fit.posterior.base as! SWAGPosterior
            let c = try post.covarianceMatrix()
            print("B", b, "mu", mu, "lr", lr, "secs", Date().timeIntervalSince(t1), "mean", post.mean.values, "maha", problem.mahalanobisDistanceFromMean(post.mean.values.map{Double($0)}),
                  "cov", c, "var", post.variance.values)
          }
        }
    }
}
