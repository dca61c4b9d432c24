"""The matching service: expert registry, 1+N+1 teams, applications, TeamAccepted, recommendations."""
