import Credence
print("credence")
